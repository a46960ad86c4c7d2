import type { Kysely } from 'kysely'
import { runEach } from './run-statements.ts'

// Hot paths: routines installed from the slices (their text hashed here); a revision on every seat change, so each
// instance can follow seat states with one indexed read; the revocations every instance applies to queue tokens and
// entry tickets; the index the per-admission seat count reads.
export async function up(db: Kysely<any>): Promise<void> {
  await runEach(db, [
    `CREATE TABLE routines (
      name text PRIMARY KEY,
      hash text NOT NULL,
      installed_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE SEQUENCE seat_rev`,
    `ALTER TABLE seats ADD COLUMN rev bigint NOT NULL DEFAULT nextval('seat_rev')`,
    `CREATE INDEX seats_rev ON seats (rev)`,
    `CREATE OR REPLACE FUNCTION bump_seat_rev() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       NEW.rev := nextval('seat_rev');
       RETURN NEW;
     END $$`,
    `CREATE TRIGGER seats_rev BEFORE UPDATE ON seats FOR EACH ROW EXECUTE FUNCTION bump_seat_rev()`,
    `CREATE TABLE queue_revocations (
      seq bigserial PRIMARY KEY,
      schedule_id uuid NOT NULL,
      user_id uuid NOT NULL,
      entry_seq bigint,
      reason text NOT NULL CHECK (reason IN ('paid', 'left', 'kicked')),
      revoked_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX reservations_schedule_user ON reservations (schedule_id, user_id)`,
  ])
}
