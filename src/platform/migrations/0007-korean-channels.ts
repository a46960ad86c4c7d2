import type { Kysely } from 'kysely'
import { runStatements } from './run-statements.ts'

// KakaoTalk AlimTalk, Firebase Cloud Messaging and SMS: the new channels in the preferences, one delivery per
// device token (a user may have several phones), device tokens per user, verified phone numbers and the codes
// that verify them. Indexes for retention, which prunes by age.
export async function up(db: Kysely<any>): Promise<void> {
  await runStatements(
    db,
    `
    ALTER TABLE notification_preferences DROP CONSTRAINT notification_preferences_channel_check;
    ALTER TABLE notification_preferences ADD CONSTRAINT notification_preferences_channel_check
      CHECK (channel IN ('webhook', 'slack', 'discord', 'telegram', 'alimtalk', 'fcm', 'sms'));

    ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_notification_id_channel_key;
    ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_target_key
      UNIQUE (notification_id, channel, target);

    CREATE TABLE push_tokens (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users(id),
      token text NOT NULL UNIQUE,
      platform text NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
      created_at timestamptz NOT NULL DEFAULT now(),
      registered_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX push_tokens_user ON push_tokens (user_id, registered_at DESC);

    CREATE TABLE user_phones (
      user_id uuid PRIMARY KEY REFERENCES users(id),
      phone_number text NOT NULL,
      verified_at timestamptz NOT NULL
    );

    CREATE TABLE phone_verifications (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users(id),
      phone_number text NOT NULL,
      code text,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'superseded', 'locked')),
      attempts integer NOT NULL DEFAULT 0,
      send_status text NOT NULL DEFAULT 'queued' CHECK (send_status IN ('queued', 'sent', 'failed')),
      send_error text,
      sent_at timestamptz,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      verified_at timestamptz
    );
    CREATE INDEX phone_verifications_user ON phone_verifications (user_id, created_at DESC);
    CREATE INDEX phone_verifications_number ON phone_verifications (phone_number, created_at DESC);
    CREATE INDEX phone_verifications_expiry ON phone_verifications (expires_at);

    CREATE INDEX processed_events_age ON processed_events (processed_at);
    CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
    CREATE INDEX notifications_age ON notifications (created_at);
    CREATE INDEX dead_letters_replayed ON dead_letters (replayed_at) WHERE status = 'replayed';
    `,
  )
}
