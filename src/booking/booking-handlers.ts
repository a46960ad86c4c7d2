import type { TransactionHandler } from '../events/index.ts'
import { expireHolds } from './expire-holds.ts'

/** The database clock is still before the hold's deadline (another machine's clock ran ahead): try again shortly. */
export class HoldNotDueError extends Error {
  override name = 'HoldNotDueError'
  readonly retryable = true
  constructor() {
    super('hold not yet due by the database clock')
  }
}

/** Delayed delivery: each reservation.held waits for its own deadline, then the hold is ended. */
export function holdExpirationHandler(): TransactionHandler<'reservation.held'> {
  return {
    group: 'hold-expiration',
    topic: 'reservation.held',
    // every pending hold sleeps on its own timer, so thousands can wait without holding up each other
    keyConcurrency: 100_000,
    deliverAt: (event) => new Date(event.data.expiresAt),
    async handle(event, { tx }) {
      const outcome = (await expireHolds(tx, [event.data.reservationId])).get(event.data.reservationId)
      // A clock behind ours (another machine's) makes it early: fail so the runtime tries again shortly.
      if (outcome === 'not-due') throw new HoldNotDueError()
    },
  }
}
