import type { Kysely } from 'kysely'
import { runEach } from './run-statements.ts'

// Where the outbox relay's records end in each Kafka partition, written in the transaction that deletes the batch it
// published: records past these positions were published by a relay that died (or failed) before its delete, and a
// relay reads them back instead of publishing their rows again.
export async function up(db: Kysely<any>): Promise<void> {
  await runEach(db, [
    `CREATE TABLE relay_positions (
      topic text NOT NULL,
      partition integer NOT NULL,
      next_offset bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (topic, partition)
    )`,
  ])
}
