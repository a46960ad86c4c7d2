import type { Kysely } from 'kysely'
import { runEach } from './run-statements.ts'

// Waiting lists of sold-out schedules: fans in order of joining, the offers of seats that came back (one open offer per
// seat and per fan, held by unique indexes), and on the seat itself who it is offered to until when, so that a hold
// decides against an offer under the seat's row lock.
export async function up(db: Kysely<any>): Promise<void> {
  await runEach(db, [
    `CREATE TABLE waitlist_entries (
      schedule_id uuid NOT NULL REFERENCES schedules(id),
      user_id uuid NOT NULL REFERENCES users(id),
      seq bigserial NOT NULL,
      status text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'offered', 'accepted', 'lapsed', 'left')),
      joined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (schedule_id, user_id)
    )`,
    `CREATE INDEX waitlist_waiting ON waitlist_entries (schedule_id, seq) WHERE status = 'waiting'`,
    `CREATE TABLE waitlist_offers (
      id uuid PRIMARY KEY,
      schedule_id uuid NOT NULL REFERENCES schedules(id),
      seat_id uuid NOT NULL REFERENCES seats(id),
      user_id uuid NOT NULL REFERENCES users(id),
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'expired', 'withdrawn')),
      offered_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      ended_at timestamptz,
      reservation_id uuid
    )`,
    // never one seat offered to two fans at once, nor two seats to one fan of a schedule
    `CREATE UNIQUE INDEX waitlist_offers_one_per_seat ON waitlist_offers (seat_id) WHERE status = 'open'`,
    `CREATE UNIQUE INDEX waitlist_offers_one_per_fan ON waitlist_offers (schedule_id, user_id) WHERE status = 'open'`,
    `CREATE INDEX waitlist_offers_schedule ON waitlist_offers (schedule_id, offered_at DESC)`,
    `ALTER TABLE seats ADD COLUMN offered_to uuid`,
    `ALTER TABLE seats ADD COLUMN offered_until timestamptz`,
  ])
}
