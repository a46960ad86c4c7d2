import type { Kysely } from 'kysely'
import { runEach } from './run-statements.ts'

// Refunds of paid reservations: a reservation can end refunded, the ledger has refund entries (one per reservation,
// enforced here), and one refund row per reservation keeps what was given back, so a second call answers the first.
export async function up(db: Kysely<any>): Promise<void> {
  await runEach(db, [
    `ALTER TABLE reservations DROP CONSTRAINT reservations_status_check`,
    `ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
      CHECK (status IN ('held', 'confirmed', 'expired', 'cancelled', 'refunded'))`,
    `ALTER TABLE wallet_ledger DROP CONSTRAINT wallet_ledger_kind_check`,
    `ALTER TABLE wallet_ledger ADD CONSTRAINT wallet_ledger_kind_check CHECK (kind IN ('charge', 'payment', 'grant', 'top-up', 'refund'))`,
    `CREATE UNIQUE INDEX wallet_ledger_one_refund ON wallet_ledger (reference) WHERE kind = 'refund'`,
    `CREATE TABLE refunds (
      reservation_id uuid PRIMARY KEY REFERENCES reservations(id),
      payment_id uuid NOT NULL REFERENCES payments(id),
      user_id uuid NOT NULL REFERENCES users(id),
      amount integer NOT NULL CHECK (amount >= 0),
      coupon_restored boolean NOT NULL,
      refunded_by text NOT NULL CHECK (refunded_by IN ('fan', 'organizer')),
      reason text,
      receipt jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
  ])
}
