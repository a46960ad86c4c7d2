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

export async function seatFacts(db: Db, seatId: string) {
  return db
    .selectFrom('seats as s')
    .innerJoin('schedules as sc', 'sc.id', 's.schedule_id')
    .innerJoin('concerts as c', 'c.id', 'sc.concert_id')
    .select(['c.title', 'sc.starts_at', 's.label', 's.price'])
    .where('s.id', '=', seatId)
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

/**
 * Where a user's notification of `kind` goes besides the inbox: each channel that carries the kind and that the user
 * has on (its default when they set nothing), with its target: the deployment's URL, their Telegram chat, their
 * verified phone number, or one target per registered device.
 */
export async function deliveryTargets(
  db: Db,
  userId: string,
  channels: readonly NotificationChannel[],
  kind: string,
) {
  const prefs = await db
    .selectFrom('notification_preferences')
    .selectAll()
    .where('user_id', '=', userId)
    .execute()
  const wanted = channels.filter((channel) => {
    const pref = prefs.find((p) => p.channel === channel.name)
    return (pref ? pref.enabled : channel.enabledByDefault) && (channel.supports?.(kind) ?? true)
  })
  const needs = (audience: string) => wanted.some((c) => c.audience === audience)
  const phone = needs('phone')
    ? (
        await db
          .selectFrom('user_phones')
          .select('phone_number')
          .where('user_id', '=', userId)
          .executeTakeFirst()
      )?.phone_number
    : undefined
  const devices = needs('device')
    ? (await db.selectFrom('push_tokens').select('token').where('user_id', '=', userId).execute()).map(
        (d) => d.token,
      )
    : []
  const out: { channel: ChannelName; target: string }[] = []
  for (const channel of wanted) {
    // URLs come only from the deployment's config; a user can only name their own Telegram chat.
    const targets = {
      deployment: [channel.defaultTarget],
      chat: [prefs.find((p) => p.channel === channel.name)?.target],
      phone: [phone],
      device: devices,
    }[channel.audience]
    for (const target of targets) if (target) out.push({ channel: channel.name, target })
  }
  return out
}

/** A target the partner says is gone for good: an FCM device token is deleted, so nothing is sent to it again. */
export async function forgetTarget(db: Db, channel: string, target: string): Promise<void> {
  if (channel === 'fcm') await db.deleteFrom('push_tokens').where('token', '=', target).execute()
}

/** What the fan app shows per channel: configured here, on for this user, and whether it can reach them. */
export async function channelStatus(db: Db, userId: string, channels: readonly NotificationChannel[]) {
  const [prefs, phone, devices] = await Promise.all([
    readPreferences(db, userId),
    db.selectFrom('user_phones').select('user_id').where('user_id', '=', userId).executeTakeFirst(),
    db
      .selectFrom('push_tokens')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow(),
  ])
  // A deployment channel without its URL is not offered at all.
  return channels
    .filter((c) => c.audience !== 'deployment' || c.defaultTarget)
    .map((c) => {
      const pref = prefs.find((p) => p.channel === c.name)
      const reachable = {
        deployment: true,
        chat: Boolean(pref?.target),
        phone: phone !== undefined,
        device: devices.n > 0,
      }[c.audience]
      return { channel: c.name, enabled: pref ? pref.enabled : c.enabledByDefault, reachable }
    })
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
