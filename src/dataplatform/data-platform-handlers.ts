import type { ExternalHandler } from '../events/index.ts'
import type { DataPlatformClient } from './data-platform-client.ts'

/** Sends each confirmed reservation to the data platform once, keyed by the event id; no connection is held meanwhile. */
export function dataPlatformHandler(client: DataPlatformClient): ExternalHandler<'reservation.confirmed'> {
  return {
    group: 'data-platform',
    yieldsToFans: true,
    topic: 'reservation.confirmed',
    mode: 'external',
    async handle(event, { eventId, signal }) {
      await client.sendReservation(event.data, eventId, signal)
    },
  }
}

/**
 * Tells the data platform a reservation it has was refunded: a correction record keyed by the same reservation id,
 * sent once per reservation.refunded (the event id is the Idempotency-Key).
 */
export function dataPlatformRefundHandler(
  client: DataPlatformClient,
): ExternalHandler<'reservation.refunded'> {
  return {
    group: 'data-platform-corrections',
    yieldsToFans: true,
    topic: 'reservation.refunded',
    mode: 'external',
    async handle(event, { eventId, signal }) {
      const d = event.data
      await client.sendReservation(
        {
          reservationId: d.reservationId,
          correction: 'refunded',
          paymentId: d.paymentId,
          scheduleId: d.scheduleId,
          concertId: d.concertId,
          seatId: d.seatId,
          seatLabel: d.seatLabel,
          userId: d.userId,
          refundedAmount: d.amount,
          couponId: d.couponId,
          couponRestored: d.couponRestored,
          refundedBy: d.refundedBy,
          refundedAt: d.refundedAt,
        },
        eventId,
        signal,
      )
    },
  }
}
