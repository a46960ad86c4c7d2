import type { Kysely } from 'kysely'
import { runStatements } from './run-statements.ts'

// Invariants live in the schema where SQL can hold them: balances and stock never go negative,
// a seat points at most at one reservation, a user owns a coupon at most once.
export async function up(db: Kysely<any>): Promise<void> {
  await runStatements(
    db,
    `
    CREATE TABLE users (
      id uuid PRIMARY KEY,
      email text NOT NULL UNIQUE,
      name text NOT NULL,
      password_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE wallets (
      user_id uuid PRIMARY KEY REFERENCES users(id),
      balance integer NOT NULL DEFAULT 0 CHECK (balance >= 0),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE wallet_ledger (
      id bigserial PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users(id),
      amount integer NOT NULL CHECK (amount <> 0),
      kind text NOT NULL CHECK (kind IN ('charge', 'payment')),
      reference text NOT NULL,
      balance_after integer NOT NULL CHECK (balance_after >= 0),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX wallet_ledger_user ON wallet_ledger (user_id, id);

    CREATE TABLE idempotency_keys (
      user_id uuid NOT NULL,
      scope text NOT NULL,
      key text NOT NULL,
      request_hash text NOT NULL,
      status_code integer,
      response jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, scope, key)
    );

    CREATE TABLE concerts (
      id uuid PRIMARY KEY,
      title text NOT NULL,
      artist text NOT NULL,
      venue text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE schedules (
      id uuid PRIMARY KEY,
      concert_id uuid NOT NULL REFERENCES concerts(id),
      starts_at timestamptz NOT NULL,
      sale_opens_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX schedules_concert ON schedules (concert_id, starts_at);

    CREATE TABLE seats (
      id uuid PRIMARY KEY,
      schedule_id uuid NOT NULL REFERENCES schedules(id),
      label text NOT NULL,
      grade text NOT NULL,
      price integer NOT NULL CHECK (price >= 0),
      status text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
      reservation_id uuid,
      held_until timestamptz,
      UNIQUE (schedule_id, label),
      CHECK ((status = 'available') = (reservation_id IS NULL)),
      CHECK ((status = 'held') = (held_until IS NOT NULL))
    );
    CREATE INDEX seats_schedule ON seats (schedule_id, label);

    CREATE TABLE reservations (
      id uuid PRIMARY KEY,
      schedule_id uuid NOT NULL REFERENCES schedules(id),
      seat_id uuid NOT NULL REFERENCES seats(id),
      user_id uuid NOT NULL REFERENCES users(id),
      price integer NOT NULL,
      status text NOT NULL CHECK (status IN ('held', 'confirmed', 'expired', 'cancelled')),
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      confirmed_at timestamptz,
      ended_at timestamptz
    );
    CREATE INDEX reservations_user ON reservations (user_id, created_at DESC);
    CREATE INDEX reservations_held_expiry ON reservations (expires_at) WHERE status = 'held';
    -- at most one confirmed reservation per seat, whatever happens above this line
    CREATE UNIQUE INDEX reservations_one_sale_per_seat ON reservations (seat_id) WHERE status = 'confirmed';

    CREATE TABLE coupons (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      discount_type text NOT NULL CHECK (discount_type IN ('fixed', 'percent')),
      discount_value integer NOT NULL CHECK (discount_value > 0),
      total_quantity integer NOT NULL CHECK (total_quantity >= 0),
      issued_count integer NOT NULL DEFAULT 0 CHECK (issued_count >= 0 AND issued_count <= total_quantity),
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK (discount_type <> 'percent' OR discount_value <= 100)
    );

    CREATE TABLE user_coupons (
      id uuid PRIMARY KEY,
      coupon_id uuid NOT NULL REFERENCES coupons(id),
      user_id uuid NOT NULL REFERENCES users(id),
      status text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'used')),
      issued_at timestamptz NOT NULL DEFAULT now(),
      used_at timestamptz,
      used_by_reservation_id uuid,
      UNIQUE (coupon_id, user_id)
    );
    CREATE INDEX user_coupons_user ON user_coupons (user_id, issued_at);

    CREATE TABLE payments (
      id uuid PRIMARY KEY,
      reservation_id uuid NOT NULL UNIQUE REFERENCES reservations(id),
      user_id uuid NOT NULL REFERENCES users(id),
      price integer NOT NULL,
      discount integer NOT NULL,
      amount integer NOT NULL CHECK (amount >= 0),
      user_coupon_id uuid REFERENCES user_coupons(id),
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE queue_state (
      schedule_id uuid PRIMARY KEY REFERENCES schedules(id),
      sequence_name text NOT NULL,
      opened boolean NOT NULL DEFAULT false,
      admitted_through bigint NOT NULL DEFAULT 0,
      admit_credit double precision NOT NULL DEFAULT 0,
      last_tick_at timestamptz
    );

    CREATE TABLE queue_entries (
      schedule_id uuid NOT NULL REFERENCES schedules(id),
      user_id uuid NOT NULL REFERENCES users(id),
      seq bigint,
      status text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'admitted', 'left', 'completed')),
      entered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      admitted_at timestamptz,
      admitted_until timestamptz,
      PRIMARY KEY (schedule_id, user_id)
    );
    CREATE INDEX queue_waiting ON queue_entries (schedule_id, seq) WHERE status = 'waiting';
    CREATE INDEX queue_admitted ON queue_entries (schedule_id, admitted_until) WHERE status = 'admitted';

    CREATE TABLE schedule_sales (
      schedule_id uuid PRIMARY KEY REFERENCES schedules(id),
      sold_count integer NOT NULL DEFAULT 0,
      sold_out_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE concert_daily_sales (
      concert_id uuid NOT NULL REFERENCES concerts(id),
      day date NOT NULL,
      sold_count integer NOT NULL DEFAULT 0,
      PRIMARY KEY (day, concert_id)
    );

    CREATE TABLE outbox (
      seq bigserial PRIMARY KEY,
      id uuid NOT NULL UNIQUE,
      topic text NOT NULL,
      key text NOT NULL,
      event jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `,
  )
}
