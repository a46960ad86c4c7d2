import type { Kysely } from 'kysely'
import { runStatements } from './run-statements.ts'

// First-come coupon requests, and the notification history: one notification per event and user, one delivery
// per channel with its own status, and per-user channel preferences.
export async function up(db: Kysely<any>): Promise<void> {
  await runStatements(
    db,
    `
    CREATE TABLE coupon_requests (
      id uuid PRIMARY KEY,
      seq bigserial NOT NULL,
      coupon_id uuid NOT NULL REFERENCES coupons(id),
      user_id uuid NOT NULL REFERENCES users(id),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'issued', 'rejected')),
      reason text,
      user_coupon_id uuid,
      requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      decided_at timestamptz,
      UNIQUE (coupon_id, user_id)
    );
    CREATE INDEX coupon_requests_pending ON coupon_requests (coupon_id, seq) WHERE status = 'pending';

    CREATE TABLE notification_preferences (
      user_id uuid NOT NULL REFERENCES users(id),
      channel text NOT NULL CHECK (channel IN ('webhook', 'slack', 'discord', 'telegram')),
      enabled boolean NOT NULL DEFAULT true,
      target text,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, channel)
    );

    CREATE TABLE notifications (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users(id),
      event_id text NOT NULL,
      kind text NOT NULL,
      title text NOT NULL,
      body text NOT NULL,
      payload jsonb NOT NULL,
      read_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (event_id, user_id)
    );
    CREATE INDEX notifications_user ON notifications (user_id, created_at DESC);

    CREATE TABLE notification_deliveries (
      id uuid PRIMARY KEY,
      notification_id uuid NOT NULL REFERENCES notifications(id),
      channel text NOT NULL,
      target text,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      sent_at timestamptz,
      UNIQUE (notification_id, channel)
    );
    `,
  )
}
