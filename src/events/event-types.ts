import Type, { type Static, type TSchema } from 'typebox'

const Id = Type.String({ format: 'uuid' })
const Time = Type.String({ format: 'date-time' })

/**
 * Every event type (its topic is named after it) and its payload schema; the key of each is in topics.ts.
 * Payloads are validated when appended to the outbox and again when consumed.
 */
export const eventTypes = {
  'reservation.held': {
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
    data: Type.Object({ reservationId: Id, scheduleId: Id, seatId: Id, userId: Id, cancelledAt: Time }),
  },
  'reservation.expired': {
    data: Type.Object({ reservationId: Id, scheduleId: Id, seatId: Id, userId: Id, expiresAt: Time }),
  },
  // A paid reservation was refunded (by the fan before the cut-off, or by the organizer): points returned through the
  // ledger, the seat back on sale, the coupon perhaps restored.
  'reservation.refunded': {
    data: Type.Object({
      reservationId: Id,
      paymentId: Id,
      scheduleId: Id,
      concertId: Id,
      seatId: Id,
      seatLabel: Type.String(),
      userId: Id,
      amount: Type.Integer({ description: 'points returned' }),
      couponId: Type.Union([Id, Type.Null()]),
      couponRestored: Type.Boolean(),
      refundedBy: Type.Union([Type.Literal('fan'), Type.Literal('organizer')]),
      reason: Type.Union([Type.String(), Type.Null()]),
      refundedAt: Time,
    }),
  },
  'points.charged': {
    data: Type.Object({
      userId: Id,
      amount: Type.Integer(),
      balance: Type.Integer(),
      ledgerId: Type.Integer(),
    }),
  },
  'coupon.issue-requested': {
    data: Type.Object({ requestId: Id, couponId: Id, userId: Id, requestedAt: Time }),
  },
  'coupon.issued': {
    data: Type.Object({ requestId: Id, couponId: Id, userId: Id, userCouponId: Id, issuedAt: Time }),
  },
  'coupon.rejected': {
    data: Type.Object({ requestId: Id, couponId: Id, userId: Id, reason: Type.String(), decidedAt: Time }),
  },
  'notification.requested': {
    data: Type.Object({ notificationId: Id, deliveryId: Id, userId: Id, channel: Type.String() }),
  },
  'queue.entered': {
    data: Type.Object({ scheduleId: Id, userId: Id, preQueue: Type.Boolean(), enteredAt: Time }),
  },
  'queue.admitted': {
    data: Type.Object({ scheduleId: Id, userId: Id, seq: Type.Integer(), admittedUntil: Time }),
  },
  // A seat that came back was offered to the next fan of its schedule's waiting list: theirs alone until expiresAt.
  'waitlist.offered': {
    data: Type.Object({ offerId: Id, scheduleId: Id, seatId: Id, userId: Id, expiresAt: Time }),
  },
  // Organizer webhooks: an endpoint was turned off by the service (410 Gone, or failing for too long).
  'webhook.endpoint-disabled': {
    data: Type.Object({
      endpointId: Id,
      url: Type.String(),
      reason: Type.Union([Type.Literal('gone'), Type.Literal('failing')]),
      failingSince: Type.Union([Time, Type.Null()]),
      disabledAt: Time,
    }),
  },
  // A fan asked for a phone verification code; the SMS channel sends it (the code itself stays in the database).
  'phone.verification-requested': {
    data: Type.Object({ verificationId: Id, userId: Id }),
  },
} as const satisfies Record<string, { data: TSchema }>

export type EventType = keyof typeof eventTypes
export type EventData<T extends EventType> = Static<(typeof eventTypes)[T]['data']>
