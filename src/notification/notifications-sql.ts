import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import type { ChannelName, NotificationChannel } from './channels.ts'

export async function reservationFacts(db: Db, reservationId: string) {
  return db
    .selectFrom('reservations as r')
    .innerJoin('seats as s', 's.id', 'r.seat_id')
    .innerJoin('schedules as sc', 'sc.id', 'r.schedule_id')
    .innerJoin('concerts as c', 'c.id', 'sc.concert_id')
    .select(['c.title', 'sc.starts_at', 's.label', 'r.price'])
    .where('r.id', '=', reservationId)
    .executeTakeFirst()
}

export async function scheduleFacts(db: Db, scheduleId: string) {
  return db
    .selectFrom('schedules as sc')
    .innerJoin('concerts as c', 'c.id', 'sc.concert_id')
    .select(['c.title', 'sc.starts_at'])
    .where('sc.id', '=', scheduleId)
    .executeTakeFirst()
}

export async function couponName(db: Db, couponId: string) {
  return (await db.selectFrom('coupons').select('name').where('id', '=', couponId).executeTakeFirst())?.name
}

/** Where a user's notification goes besides the inbox: their enabled channels with a target. */
export async function deliveryTargets(db: Db, userId: string, channels: readonly NotificationChannel[]) {
  const prefs = await db
    .selectFrom('notification_preferences')
    .selectAll()
    .where('user_id', '=', userId)
    .execute()
  const out: { channel: ChannelName; target: string }[] = []
  for (const channel of channels) {
    const pref = prefs.find((p) => p.channel === channel.name)
    if (pref && !pref.enabled) continue
    // URLs come only from the deployment's config; a user can only name their own Telegram chat.
    const target = channel.name === 'telegram' ? pref?.target : channel.defaultTarget
    if (target) out.push({ channel: channel.name, target })
  }
  return out
}

/** Records one delivery attempt's outcome; a delivery that was sent stays sent. */
export async function recordAttempt(
  db: Db,
  deliveryId: string,
  status: 'pending' | 'sent' | 'failed',
  error: string | null,
) {
  await db
    .updateTable('notification_deliveries')
    .set((eb) => ({
      status,
      attempts: eb('attempts', '+', status === 'failed' ? 0 : 1),
      last_error: error,
      sent_at: status === 'sent' ? sql`now()` : null,
    }))
    .where('id', '=', deliveryId)
    .where('status', '<>', 'sent')
    .execute()
}

/** A user's channel preferences. */
export function readPreferences(db: Db, userId: string) {
  return db
    .selectFrom('notification_preferences')
    .select(['channel', 'enabled', 'target'])
    .where('user_id', '=', userId)
    .orderBy('channel')
    .execute()
}

/** A user's inbox, newest first, each notification with its deliveries per channel. */
export function readInbox(db: Db, userId: string, limit: number) {
  return db
    .selectFrom('notifications as n')
    .select([
      'n.id',
      'n.kind',
      'n.title',
      'n.body',
      'n.payload',
      'n.created_at',
      sql<unknown>`coalesce((select json_agg(json_build_object('channel', d.channel, 'status', d.status,
        'attempts', d.attempts, 'lastError', d.last_error, 'sentAt', d.sent_at) order by d.channel)
        from notification_deliveries d where d.notification_id = n.id), '[]'::json)`.as('deliveries'),
    ])
    .where('n.user_id', '=', userId)
    .orderBy('n.created_at', 'desc')
    .orderBy('n.id', 'desc')
    .limit(limit)
    .execute()
}
