import type { CloudEvent, EventType, TransactionHandler } from '../events/index.ts'
import { expireOffer, offerSeat } from './offer-seat.ts'

/** The events that put a seat back on sale: a hold lapsed or was given back, a paid reservation was refunded. */
export const seatReleaseEvents = [
  'reservation.expired',
  'reservation.cancelled',
  'reservation.refunded',
] as const
type SeatReleaseEvent = (typeof seatReleaseEvents)[number]

/** A seat back on sale is offered to the next fan of its schedule's waiting list (nothing happens without one). */
export function offerReleasedSeat<T extends SeatReleaseEvent>(
  type: T,
  offerSeconds: number,
): TransactionHandler<T> {
  return {
    group: `waitlist.${type}`,
    topic: type,
    handle: async (event, { tx }) => {
      await offerSeat(tx, (event as CloudEvent<SeatReleaseEvent>).data.seatId, offerSeconds)
    },
  }
}

/** The database clock is still before the offer's deadline (another machine's clock ran ahead): try again shortly. */
export class OfferNotDueError extends Error {
  override name = 'OfferNotDueError'
  readonly retryable = true
  constructor() {
    super('waiting-list offer not yet due by the database clock')
  }
}

/** Delayed delivery, like hold expiry: each offer waits for its own deadline, then moves down the list if not taken. */
export function offerExpirationHandler(offerSeconds: number): TransactionHandler<'waitlist.offered'> {
  return {
    group: 'waitlist-offer-expiration',
    topic: 'waitlist.offered',
    keyConcurrency: 100_000,
    deliverAt: (event) => new Date(event.data.expiresAt),
    async handle(event, { tx }) {
      const outcome = await expireOffer(tx, event.data.offerId, offerSeconds)
      if (outcome === 'not-due') throw new OfferNotDueError()
    },
  }
}

export const waitlistEventTypes: readonly EventType[] = [...seatReleaseEvents, 'waitlist.offered']
