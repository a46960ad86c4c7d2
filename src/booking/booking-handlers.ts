import type { CloudEvent, TransactionHandler } from '../events/index.ts'
import type { Tx } from '../platform/db.ts'
import { expireHolds } from './expire-holds.ts'

/** The database clock is still before the hold's deadline (another machine's clock ran ahead): try again shortly. */
export class HoldNotDueError extends Error {
  override name = 'HoldNotDueError'
  readonly retryable = true
  constructor() {
    super('hold not yet due by the database clock')
  }
}

/**
 * Delayed delivery: each reservation.held waits for its own deadline, then the hold is ended. `fetchYieldsToFans`:
 * the holds' events are fetched after the fans' burst (within YIELD_TO_FANS_MS), when a hold lasts well beyond that.
 */
export function holdExpirationHandler(options: {
  fetchYieldsToFans: boolean
}): TransactionHandler<'reservation.held'> {
  return {
    group: 'hold-expiration',
    topic: 'reservation.held',
    fetchYieldsToFans: options.fetchYieldsToFans,
    // the pending holds wait parked until due (see ConsumerSpec.dueAt); every hold due at once is in flight at once
    keyConcurrency: 100_000,
    deliverAt: (event) => new Date(event.data.expiresAt),
    handle: (event, { tx }) => expire(tx, [event]),
    // the holds due in the same moment end in one statement
    handleBatch: (events, { tx }) => expire(tx, events),
  }
}

async function expire(tx: Tx, events: readonly CloudEvent<'reservation.held'>[]): Promise<void> {
  const outcomes = await expireHolds(
    tx,
    events.map((e) => e.data.reservationId),
  )
  // A clock behind ours (another machine's) makes it early: fail so the runtime tries again shortly.
  if ([...outcomes.values()].includes('not-due')) throw new HoldNotDueError()
}
