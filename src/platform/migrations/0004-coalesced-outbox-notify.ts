import type { Kysely } from 'kysely'
import { runStatements } from './run-statements.ts'

// NOTIFY takes a database-wide lock at commit, so when every writer notified, commits of unrelated fans queued
// behind each other. Now only a writer that finds no other notifying writer in flight sends it; the relay's
// look-again-after-a-batch loop and its short idle poll pick up the rest.
export async function up(db: Kysely<any>): Promise<void> {
  await runStatements(
    db,
    `
    CREATE OR REPLACE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF pg_try_advisory_xact_lock(727004) THEN
        PERFORM pg_notify('outbox', '');
      END IF;
      RETURN NULL;
    END $$;
    `,
  )
}
