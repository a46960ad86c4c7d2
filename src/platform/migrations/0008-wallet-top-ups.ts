import type { Kysely } from 'kysely'
import { runStatements } from './run-statements.ts'

// Real points (issue #8): ledger lines for organizer grants and paid top-ups, and top-up orders, each confirmed once
// with the payment provider (Toss Payments) and credited once.
export async function up(db: Kysely<any>): Promise<void> {
  await runStatements(
    db,
    `
    ALTER TABLE wallet_ledger DROP CONSTRAINT wallet_ledger_kind_check;
    ALTER TABLE wallet_ledger ADD CONSTRAINT wallet_ledger_kind_check
      CHECK (kind IN ('charge', 'payment', 'grant', 'top-up'));

    CREATE TABLE top_up_orders (
      id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{6,64}$'),
      user_id uuid NOT NULL REFERENCES users(id),
      amount integer NOT NULL CHECK (amount > 0),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid')),
      payment_key text UNIQUE,
      ledger_id bigint REFERENCES wallet_ledger(id),
      created_at timestamptz NOT NULL DEFAULT now(),
      paid_at timestamptz
    );
    CREATE INDEX top_up_orders_user ON top_up_orders (user_id, created_at DESC);
    `,
  )
}
