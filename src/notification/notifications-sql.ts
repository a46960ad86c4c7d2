import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import type { Database } from '../platform/schema.ts'
import type { ChannelName, NotificationChannel } from './channels.ts'

/** What a notification says about each seat (an offer from the waiting list), by seat id. */
export async function seatFacts(db: Db, seatIds: readonly string[]) {
  const rows = await db
    .selectFrom('seats as s')
    .innerJoin('schedules as sc', 'sc.id', 's.schedule_id')
    .innerJoin('concerts as c', 'c.id', 'sc.concert_id')
    .select(['s.id', 'c.title', 'sc.starts_at', 's.label', 's.price'])
    .where('s.id', 'in', [...new Set(seatIds)])
    .execute()
  return new Map(rows.map((r) => [r.id, r]))
}

/** Title and start of each schedule, by schedule id. */
export async function scheduleFacts(db: Db, scheduleIds: readonly string[]) {
  const rows = await db
    .selectFrom('schedules as sc')
    .innerJoin('concerts as c', 'c.id', 'sc.concert_id')
    .select(['sc.id', 'c.title', 'sc.starts_at'])
    .where('sc.id', 'in', [...new Set(scheduleIds)])
    .execute()
  return new Map(rows.map((r) => [r.id, r]))
}

/** Each coupon's name, by coupon id. */
export async function couponNames(db: Db, couponIds: readonly string[]) {
  const rows = await db
    .selectFrom('coupons')
    .select(['id', 'name'])
    .where('id', 'in', [...new Set(couponIds)])
    .execute()
  return new Map(rows.map((r) => [r.id, r.name]))
}

/** One inbox notification, as the composer makes it (`payload` is stored as JSON). */
export type NotificationRow = Pick<
  Database['notifications'],
  'id' | 'user_id' | 'event_id' | 'kind' | 'title' | 'body'
> & { payload: object }

/**
 * Inserts a batch's inbox notifications, one per event and user (a repeat is skipped), and returns those inserted.
 * The rows travel as one JSON array, so every batch is the same short statement: as a multi-row VALUES list (seven
 * parameters a row), each batch size was a statement of its own, parsed and planned anew.
 */
export async function insertNotifications(
  tx: Db,
  rows: readonly NotificationRow[],
): Promise<{ id: string; user_id: string }[]> {
  const { rows: inserted } = await sql<{ id: string; user_id: string }>`
    insert into notifications (id, user_id, event_id, kind, title, body, payload)
    select r.id, r.user_id, r.event_id, r.kind, r.title, r.body, r.payload
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
           as r(id uuid, user_id uuid, event_id text, kind text, title text, body text, payload jsonb)
    on conflict (event_id, user_id) do nothing
    returning id, user_id`.execute(tx)
  return inserted
}

export type DeliveryTarget = { channel: ChannelName; target: string }

/**
 * Where each user's notification of `kind` goes besides the inbox: each channel that carries the kind and that the
 * user has on (its default when they set nothing), with its target: the deployment's URL, their Telegram chat, their
 * verified phone number, or one target per registered device. One query per table for the whole batch of users.
 */
export async function deliveryTargets(
  db: Db,
  userIds: readonly string[],
  channels: readonly NotificationChannel[],
  kind: string,
): Promise<Map<string, DeliveryTarget[]>> {
  const out = new Map<string, DeliveryTarget[]>()
  const carrying = channels.filter((channel) => channel.supports?.(kind) ?? true)
  const users = [...new Set(userIds)]
  if (carrying.length === 0 || users.length === 0) return out
  const prefs = await db
    .selectFrom('notification_preferences')
    .selectAll()
    .where('user_id', 'in', users)
    .execute()
  const wantedBy = new Map(
    users.map((userId) => [
      userId,
      carrying.filter((channel) => {
        const pref = prefs.find((p) => p.user_id === userId && p.channel === channel.name)
        return pref ? pref.enabled : channel.enabledByDefault
      }),
    ]),
  )
  const needing = (audience: string) =>
    users.filter((u) => wantedBy.get(u)!.some((c) => c.audience === audience))
  const phoneUsers = needing('phone')
  const phones = new Map(
    phoneUsers.length === 0
      ? []
      : (
          await db
            .selectFrom('user_phones')
            .select(['user_id', 'phone_number'])
            .where('user_id', 'in', phoneUsers)
            .execute()
        ).map((p) => [p.user_id, p.phone_number]),
  )
  const deviceUsers = needing('device')
  const devices =
    deviceUsers.length === 0
      ? []
      : await db
          .selectFrom('push_tokens')
          .select(['user_id', 'token'])
          .where('user_id', 'in', deviceUsers)
          .execute()
  for (const userId of users) {
    const targets: DeliveryTarget[] = []
    for (const channel of wantedBy.get(userId)!) {
      // URLs come only from the deployment's config; a user can only name their own Telegram chat.
      const candidates = {
        deployment: [channel.defaultTarget],
        chat: [prefs.find((p) => p.user_id === userId && p.channel === channel.name)?.target],
        phone: [phones.get(userId)],
        device: devices.filter((d) => d.user_id === userId).map((d) => d.token),
      }[channel.audience]
      for (const target of candidates) if (target) targets.push({ channel: channel.name, target })
    }
    out.set(userId, targets)
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
  return channels.map((c) => {
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
