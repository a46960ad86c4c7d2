import type { Kysely } from 'kysely'
import { runStatements } from './run-statements.ts'

// The embedded transport's log (topics, partitions, offsets, consumer groups) and what every consumer shares on
// both transports: processed event ids (idempotency) and the dead-letter store.
export async function up(db: Kysely<any>): Promise<void> {
  await runStatements(
    db,
    `
    CREATE TABLE event_partitions (
      topic text NOT NULL,
      partition integer NOT NULL,
      next_offset bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (topic, partition)
    );

    CREATE TABLE event_log (
      topic text NOT NULL,
      partition integer NOT NULL,
      "offset" bigint NOT NULL,
      key text NOT NULL,
      value text NOT NULL,
      headers jsonb NOT NULL DEFAULT '{}',
      appended_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (topic, partition, "offset")
    );

    CREATE TABLE consumer_offsets (
      group_id text NOT NULL,
      topic text NOT NULL,
      partition integer NOT NULL,
      committed bigint NOT NULL,
      PRIMARY KEY (group_id, topic, partition)
    );

    CREATE TABLE consumer_members (
      group_id text NOT NULL,
      member_id text NOT NULL,
      heartbeat_at timestamptz NOT NULL,
      PRIMARY KEY (group_id, member_id)
    );

    CREATE TABLE consumer_leases (
      group_id text NOT NULL,
      topic text NOT NULL,
      partition integer NOT NULL,
      member_id text NOT NULL,
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (group_id, topic, partition)
    );

    CREATE TABLE processed_events (
      group_id text NOT NULL,
      event_id text NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (group_id, event_id)
    );

    CREATE TABLE dead_letters (
      id uuid PRIMARY KEY,
      group_id text NOT NULL,
      original_topic text NOT NULL,
      original_partition integer NOT NULL,
      original_offset text NOT NULL,
      key text NOT NULL,
      event_id text,
      event_type text,
      value text NOT NULL,
      error text NOT NULL,
      attempts integer NOT NULL,
      first_failed_at timestamptz NOT NULL,
      last_failed_at timestamptz NOT NULL,
      status text NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'replayed')),
      replayed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX dead_letters_status ON dead_letters (status, created_at);
    CREATE UNIQUE INDEX dead_letters_origin
      ON dead_letters (group_id, original_topic, original_partition, original_offset) WHERE status = 'dead';

    CREATE OR REPLACE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('outbox', '');
      RETURN NULL;
    END $$;

    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();
    `,
  )
}
