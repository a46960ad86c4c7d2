import { type RawBuilder, sql } from 'kysely'
import type { Config } from '../platform/config.ts'
import type { Database } from '../platform/schema.ts'

type AgeSetting = {
  [K in keyof Config]-?: K extends `RETENTION_${string}_SECONDS`
    ? Config[K] extends number
      ? K
      : never
    : never
}[keyof Config]

/**
 * One table's pruning rule: rows of `table` for which `where(cutoff)` holds are deleted, in batches, once older than
 * the `age` setting (`cutoff` is `now()` minus that age). A slice adds its table with one line below.
 */
export interface AgeRule {
  /** The metric label: `retention_pruned_rows_total{rule}`. */
  name: string
  table: keyof Database
  age: AgeSetting
  where(cutoff: RawBuilder<Date>): RawBuilder<boolean>
}

/**
 * Every table that grows with traffic and its rule, in an order that respects foreign keys (children first). Rows
 * still in play are never pruned: pending deliveries, dead letters within their age, unverified codes not yet expired.
 */
export const ageRules: readonly AgeRule[] = [
  {
    name: 'processed_events',
    table: 'processed_events',
    age: 'RETENTION_PROCESSED_EVENTS_SECONDS',
    where: (c) => sql`processed_at < ${c}`,
  },
  {
    name: 'dead_letters.replayed',
    table: 'dead_letters',
    age: 'RETENTION_DEAD_LETTERS_REPLAYED_SECONDS',
    where: (c) => sql`status = 'replayed' and replayed_at < ${c}`,
  },
  {
    name: 'dead_letters.dead',
    table: 'dead_letters',
    age: 'RETENTION_DEAD_LETTERS_SECONDS',
    where: (c) => sql`status = 'dead' and created_at < ${c}`,
  },
  {
    name: 'idempotency_keys',
    table: 'idempotency_keys',
    age: 'RETENTION_IDEMPOTENCY_KEYS_SECONDS',
    where: (c) => sql`created_at < ${c}`,
  },
  {
    name: 'notification_deliveries',
    table: 'notification_deliveries',
    age: 'RETENTION_NOTIFICATIONS_SECONDS',
    where: (c) =>
      sql`status <> 'pending' and notification_id in (select id from notifications where created_at < ${c})`,
  },
  {
    name: 'notifications',
    table: 'notifications',
    age: 'RETENTION_NOTIFICATIONS_SECONDS',
    where: (c) =>
      sql`created_at < ${c} and not exists (select 1 from notification_deliveries d where d.notification_id = notifications.id)`,
  },
  {
    name: 'webhook_deliveries',
    table: 'webhook_deliveries',
    age: 'RETENTION_WEBHOOK_DELIVERIES_SECONDS',
    where: (c) => sql`status <> 'pending' and created_at < ${c}`,
  },
  {
    name: 'webhook_notices',
    table: 'webhook_notices',
    age: 'RETENTION_WEBHOOK_DELIVERIES_SECONDS',
    where: (c) => sql`acknowledged_at < ${c}`,
  },
  {
    name: 'phone_verifications',
    table: 'phone_verifications',
    age: 'RETENTION_PHONE_VERIFICATIONS_SECONDS',
    where: (c) => sql`expires_at < ${c}`,
  },
]
