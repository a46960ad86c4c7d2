import {
  appendToOutbox,
  buildEvent,
  type CloudEvent,
  type EventType,
  type ExternalHandler,
  NonRetryableError,
  type TransactionHandler,
} from '../events/index.ts'
import { type Db, jsonColumn } from '../platform/db.ts'
import { uuidv7 } from '../platform/ids.ts'
import { type ChannelName, type NotificationChannel, TargetGoneError } from './channels.ts'
import { composeMessage, type NotificationFacts } from './messages.ts'
import {
  couponNames,
  deliveryTargets,
  forgetTarget,
  insertNotifications,
  recordAttempt,
  scheduleFacts,
  seatFacts,
} from './notifications-sql.ts'

type FactsOf<T extends EventType> = (db: Db, events: readonly CloudEvent<T>[]) => Promise<NotificationFacts[]>

/** Facts for a batch: the rows of every event's key in one query, then each event's facts from its row. */
function factsBy<T extends EventType, F>(
  keyOf: (e: CloudEvent<T>) => string,
  lookup: (db: Db, keys: readonly string[]) => Promise<Map<string, F>>,
  build: (e: CloudEvent<T>, f: F | undefined) => NotificationFacts,
): FactsOf<T> {
  return async (db, events) => {
    const found = await lookup(db, events.map(keyOf))
    return events.map((e) => build(e, found.get(keyOf(e))))
  }
}

type ScheduleFact = { title: string; starts_at: Date }
type SeatFact = ScheduleFact & { label: string; price: number }

/**
 * Facts of events that carry their seat's label and amount: only the concert's title and date are read, by the
 * schedule (in a sale one row for the whole batch, where joining each event's reservation, seat, schedule and concert
 * took 5-9 ms a batch of 200 confirmations).
 */
const bySchedule = <T extends 'reservation.confirmed' | 'reservation.refunded' | 'queue.admitted'>(
  build: (e: CloudEvent<T>, f: ScheduleFact | undefined) => NotificationFacts,
) => factsBy<T, ScheduleFact>((e) => e.data.scheduleId, scheduleFacts, build)

/** Facts of events that carry their seat but not its label: the seat's row gives the label, the price, the concert. */
const bySeat = <T extends 'reservation.held' | 'reservation.expired' | 'waitlist.offered'>(
  build: (e: CloudEvent<T>, f: SeatFact | undefined) => NotificationFacts,
) => factsBy<T, SeatFact>((e) => e.data.seatId, seatFacts, build)

/** Facts for each event type a fan is told about, for a batch of events at once (one query per batch). */
const factsFor: { [T in EventType]?: FactsOf<T> } = {
  'reservation.confirmed': bySchedule<'reservation.confirmed'>((e, f) => ({
    kind: 'payment-confirmed',
    concertTitle: f?.title,
    startsAt: f?.starts_at.toISOString(),
    seatLabel: e.data.seatLabel,
    amount: e.data.amount,
  })),
  'reservation.held': bySeat<'reservation.held'>((e, f) => ({
    kind: 'reservation-held',
    concertTitle: f?.title,
    startsAt: f?.starts_at.toISOString(),
    seatLabel: f?.label,
    amount: e.data.price,
    deadline: e.data.expiresAt,
  })),
  'reservation.expired': bySeat<'reservation.expired'>((e, f) => ({
    kind: 'reservation-expired',
    concertTitle: f?.title,
    startsAt: f?.starts_at.toISOString(),
    seatLabel: f?.label,
    amount: f?.price,
    deadline: e.data.expiresAt,
  })),
  'reservation.refunded': bySchedule<'reservation.refunded'>((e, f) => ({
    kind: 'reservation-refunded',
    concertTitle: f?.title,
    startsAt: f?.starts_at.toISOString(),
    seatLabel: e.data.seatLabel,
    amount: e.data.amount,
  })),
  'waitlist.offered': bySeat<'waitlist.offered'>((e, f) => ({
    kind: 'waitlist-offer',
    concertTitle: f?.title,
    startsAt: f?.starts_at.toISOString(),
    seatLabel: f?.label,
    amount: f?.price,
    deadline: e.data.expiresAt,
  })),
  'queue.admitted': bySchedule<'queue.admitted'>((e, f) => ({
    kind: 'queue-admitted',
    concertTitle: f?.title,
    startsAt: f?.starts_at.toISOString(),
    deadline: e.data.admittedUntil,
  })),
  'coupon.issued': factsBy<'coupon.issued', string>(
    (e) => e.data.couponId,
    couponNames,
    (_, name) => ({ kind: 'coupon-issued', couponName: name }),
  ),
  'coupon.rejected': factsBy<'coupon.rejected', string>(
    (e) => e.data.couponId,
    couponNames,
    (e, name) => ({ kind: 'coupon-rejected', couponName: name, reason: e.data.reason }),
  ),
}

export const notifiedEventTypes = Object.keys(factsFor) as EventType[]

/**
 * Turns business events into one inbox notification each for its user (the in-app channel) and one pending delivery
 * per external channel, each published as notification.requested so channels retry and fail independently of
 * each other and of the business flow. A batch of events costs the same few statements as one.
 */
export function notificationComposer<T extends EventType>(
  type: T,
  channels: readonly NotificationChannel[],
): TransactionHandler<T> {
  const factsOf = factsFor[type] as FactsOf<T>
  const compose = async (tx: Db, events: readonly CloudEvent<T>[]) => {
    const facts = await factsOf(tx, events)
    const rows = events.map((event, i) => {
      const f = facts[i]!
      const message = composeMessage(f)
      return {
        id: uuidv7(),
        user_id: (event.data as { userId: string }).userId,
        event_id: event.id,
        kind: f.kind,
        title: message.title,
        body: message.body,
        payload: f,
      }
    })
    const inserted = await insertNotifications(tx, rows)
    if (inserted.length === 0) return
    const targets = await deliveryTargets(
      tx,
      inserted.map((n) => n.user_id),
      channels,
      facts[0]!.kind,
    )
    const deliveries = inserted.flatMap((n) =>
      (targets.get(n.user_id) ?? []).map((t) => ({
        id: uuidv7(),
        notification_id: n.id,
        user_id: n.user_id,
        channel: t.channel,
        target: t.target,
      })),
    )
    if (deliveries.length === 0) return
    await tx
      .insertInto('notification_deliveries')
      .values(deliveries.map(({ user_id: _, ...d }) => d))
      .execute()
    await appendToOutbox(
      tx,
      deliveries.map((d) =>
        buildEvent('notification.requested', `${d.notification_id}:${d.channel}`, {
          notificationId: d.notification_id,
          deliveryId: d.id,
          userId: d.user_id,
          channel: d.channel,
        }),
      ),
    )
  }
  return {
    group: `notify.${type}`,
    yieldsToFans: true,
    topic: type,
    handle: (event, { tx }) => compose(tx, [event]),
    handleBatch: (events, { tx }) => compose(tx, events),
  }
}

/** Delivers one notification on one channel; the delivery row keeps status, attempts and the last error. */
export function notificationDelivery(
  channels: readonly NotificationChannel[],
): ExternalHandler<'notification.requested'> {
  const byName = new Map(channels.map((c) => [c.name, c]))
  return {
    group: 'notification-delivery',
    yieldsToFans: true,
    topic: 'notification.requested',
    mode: 'external',
    async handle(event, { db, eventId, signal }) {
      const d = await db
        .selectFrom('notification_deliveries as d')
        .innerJoin('notifications as n', 'n.id', 'd.notification_id')
        .select([
          'd.id',
          'd.status',
          'd.channel',
          'd.target',
          'n.id as nid',
          'n.user_id',
          'n.kind',
          'n.title',
          'n.body',
          'n.payload',
        ])
        .where('d.id', '=', event.data.deliveryId)
        .executeTakeFirst()
      if (!d || d.status === 'sent') return
      const channel = byName.get(d.channel as ChannelName)
      try {
        // A channel this deployment does not configure cannot succeed on a retry.
        if (!channel || !d.target) throw new NonRetryableError(`channel ${d.channel} is not configured`)
        await channel.send(
          {
            notificationId: d.nid,
            userId: d.user_id,
            kind: d.kind,
            title: d.title,
            body: d.body,
            payload: jsonColumn(d.payload) as Record<string, unknown>,
          },
          d.target,
          eventId,
          signal,
        )
      } catch (error) {
        await recordAttempt(db, d.id, 'pending', (error as Error).message)
        if (error instanceof TargetGoneError && d.target) {
          // An uninstalled app: nothing to retry or replay. The target is forgotten; no dead letter is needed.
          await forgetTarget(db, d.channel, d.target)
          await recordAttempt(db, d.id, 'failed', (error as Error).message)
          return
        }
        throw error
      }
      await recordAttempt(db, d.id, 'sent', null)
    },
    async onDeadLetter(event, error, db) {
      if (event) await recordAttempt(db, event.data.deliveryId, 'failed', error)
    },
  }
}
