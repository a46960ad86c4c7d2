import { v7 as uuidv7 } from 'uuid'
import {
  appendToOutbox,
  buildEvent,
  type CloudEvent,
  type EventType,
  type ExternalHandler,
  NonRetryableError,
  type TransactionHandler,
} from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { type ChannelName, type NotificationChannel, TargetGoneError } from './channels.ts'
import { composeMessage, type NotificationFacts } from './messages.ts'
import {
  couponName,
  deliveryTargets,
  forgetTarget,
  recordAttempt,
  reservationFacts,
  scheduleFacts,
  seatFacts,
} from './notifications-sql.ts'

/** Facts for each event type a fan is told about. */
const factsFor: { [T in EventType]?: (db: Db, e: CloudEvent<T>) => Promise<NotificationFacts> } = {
  'reservation.confirmed': async (db, e) => {
    const f = await reservationFacts(db, e.data.reservationId)
    return {
      kind: 'payment-confirmed',
      concertTitle: f?.title,
      startsAt: f?.starts_at.toISOString(),
      seatLabel: e.data.seatLabel,
      amount: e.data.amount,
    }
  },
  'reservation.held': async (db, e) => {
    const f = await reservationFacts(db, e.data.reservationId)
    return {
      kind: 'reservation-held',
      concertTitle: f?.title,
      startsAt: f?.starts_at.toISOString(),
      seatLabel: f?.label,
      amount: e.data.price,
      deadline: e.data.expiresAt,
    }
  },
  'reservation.expired': async (db, e) => {
    const f = await reservationFacts(db, e.data.reservationId)
    return {
      kind: 'reservation-expired',
      concertTitle: f?.title,
      startsAt: f?.starts_at.toISOString(),
      seatLabel: f?.label,
      amount: f?.price,
      deadline: e.data.expiresAt,
    }
  },
  'reservation.refunded': async (db, e) => {
    const f = await reservationFacts(db, e.data.reservationId)
    return {
      kind: 'reservation-refunded',
      concertTitle: f?.title,
      startsAt: f?.starts_at.toISOString(),
      seatLabel: e.data.seatLabel,
      amount: e.data.amount,
    }
  },
  'waitlist.offered': async (db, e) => {
    const f = await seatFacts(db, e.data.seatId)
    return {
      kind: 'waitlist-offer',
      concertTitle: f?.title,
      startsAt: f?.starts_at.toISOString(),
      seatLabel: f?.label,
      amount: f?.price,
      deadline: e.data.expiresAt,
    }
  },
  'queue.admitted': async (db, e) => {
    const f = await scheduleFacts(db, e.data.scheduleId)
    return {
      kind: 'queue-admitted',
      concertTitle: f?.title,
      startsAt: f?.starts_at.toISOString(),
      deadline: e.data.admittedUntil,
    }
  },
  'coupon.issued': async (db, e) => ({
    kind: 'coupon-issued',
    couponName: await couponName(db, e.data.couponId),
  }),
  'coupon.rejected': async (db, e) => ({
    kind: 'coupon-rejected',
    couponName: await couponName(db, e.data.couponId),
    reason: e.data.reason,
  }),
}

export const notifiedEventTypes = Object.keys(factsFor) as EventType[]

/**
 * Turns a business event into one inbox notification for its user (the in-app channel) and one pending delivery
 * per external channel, each published as notification.requested so channels retry and fail independently of
 * each other and of the business flow.
 */
export function notificationComposer<T extends EventType>(
  type: T,
  channels: readonly NotificationChannel[],
): TransactionHandler<T> {
  const facts = factsFor[type] as (db: Db, e: CloudEvent<T>) => Promise<NotificationFacts>
  return {
    group: `notify.${type}`,
    topic: type,
    async handle(event, { tx }) {
      const userId = (event.data as { userId: string }).userId
      const f = await facts(tx, event)
      const message = composeMessage(f)
      const notificationId = uuidv7()
      const inserted = await tx
        .insertInto('notifications')
        .values({
          id: notificationId,
          user_id: userId,
          event_id: event.id,
          kind: f.kind,
          title: message.title,
          body: message.body,
          payload: JSON.stringify(f),
        })
        .onConflict((oc) => oc.columns(['event_id', 'user_id']).doNothing())
        .returning('id')
        .executeTakeFirst()
      if (!inserted) return
      const targets = await deliveryTargets(tx, userId, channels, f.kind)
      if (targets.length === 0) return
      const deliveries = targets.map((t) => ({
        id: uuidv7(),
        notification_id: notificationId,
        channel: t.channel,
        target: t.target,
      }))
      await tx.insertInto('notification_deliveries').values(deliveries).execute()
      await appendToOutbox(
        tx,
        deliveries.map((d) =>
          buildEvent('notification.requested', `${notificationId}:${d.channel}`, {
            notificationId,
            deliveryId: d.id,
            userId,
            channel: d.channel,
          }),
        ),
      )
    },
  }
}

/** Delivers one notification on one channel; the delivery row keeps status, attempts and the last error. */
export function notificationDelivery(
  channels: readonly NotificationChannel[],
): ExternalHandler<'notification.requested'> {
  const byName = new Map(channels.map((c) => [c.name, c]))
  return {
    group: 'notification-delivery',
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
            payload: (typeof d.payload === 'string' ? JSON.parse(d.payload) : d.payload) as Record<
              string,
              unknown
            >,
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
