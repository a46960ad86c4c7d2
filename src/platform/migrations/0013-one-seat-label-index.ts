import type { Kysely } from 'kysely'
import { runEach } from './run-statements.ts'

// seats had two indexes on (schedule_id, label): the UNIQUE constraint's and a plain one. Every hold, payment and
// release changes a seat's indexed rev (no HOT update), so each index costs an entry per change: one is enough.
export async function up(db: Kysely<any>): Promise<void> {
  await runEach(db, ['DROP INDEX IF EXISTS seats_schedule'])
}
