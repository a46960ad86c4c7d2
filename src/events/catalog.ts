import Type, { type Static, type TSchema } from 'typebox'

const Id = Type.String({ format: 'uuid' })
const Time = Type.String({ format: 'date-time' })

/**
 * Every event type: its topic (named after the type), the aggregate its key comes from, and its payload schema.
 * Payloads are validated when appended to the outbox and again when consumed.
 */
export const eventCatalog = {
  'reservation.held': {
    aggregate: 'reservation',
    data: Type.Object({
      reservationId: Id,
      scheduleId: Id,
      seatId: Id,
      userId: Id,
      price: Type.Integer(),
      expiresAt: Time,
    }),
  },
  'reservation.confirmed': {
    aggregate: 'reservation',
    data: Type.Object({
      reservationId: Id,
      paymentId: Id,
      scheduleId: Id,
      concertId: Id,
      seatId: Id,
      seatLabel: Type.String(),
      userId: Id,
      price: Type.Integer(),
      discount: Type.Integer(),
      amount: Type.Integer(),
      couponId: Type.Union([Id, Type.Null()]),
      confirmedAt: Time,
    }),
  },
  'reservation.cancelled': {
    aggregate: 'reservation',
    data: Type.Object({ reservationId: Id, scheduleId: Id, seatId: Id, userId: Id, cancelledAt: Time }),
  },
  'reservation.expired': {
    aggregate: 'reservation',
    data: Type.Object({ reservationId: Id, scheduleId: Id, seatId: Id, userId: Id, expiresAt: Time }),
  },
  'points.charged': {
    aggregate: 'wallet',
    data: Type.Object({
      userId: Id,
      amount: Type.Integer(),
      balance: Type.Integer(),
      ledgerId: Type.Integer(),
    }),
  },
  'coupon.issue-requested': {
    aggregate: 'coupon',
    data: Type.Object({ requestId: Id, couponId: Id, userId: Id, requestedAt: Time }),
  },
  'coupon.issued': {
    aggregate: 'coupon-request',
    data: Type.Object({ requestId: Id, couponId: Id, userId: Id, userCouponId: Id, issuedAt: Time }),
  },
  'coupon.rejected': {
    aggregate: 'coupon-request',
    data: Type.Object({ requestId: Id, couponId: Id, userId: Id, reason: Type.String(), decidedAt: Time }),
  },
  'notification.requested': {
    aggregate: 'notification',
    data: Type.Object({ notificationId: Id, deliveryId: Id, userId: Id, channel: Type.String() }),
  },
  'queue.entered': {
    aggregate: 'queue',
    data: Type.Object({ scheduleId: Id, userId: Id, preQueue: Type.Boolean(), enteredAt: Time }),
  },
  'queue.admitted': {
    aggregate: 'queue',
    data: Type.Object({ scheduleId: Id, userId: Id, seq: Type.Integer(), admittedUntil: Time }),
  },
} as const satisfies Record<string, { aggregate: string; data: TSchema }>

export type EventType = keyof typeof eventCatalog
export type EventData<T extends EventType> = Static<(typeof eventCatalog)[T]['data']>
