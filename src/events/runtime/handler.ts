import type { Db, Tx } from '../../platform/db.ts'
import type { CloudEvent } from '../envelope.ts'
import type { EventType } from '../event-types.ts'
import type { TransportRecord } from '../transport/port.ts'

interface ContextBase {
  /** Use as the idempotency key of any external call. */
  readonly eventId: string
  /** 1-based count of tries so far, over immediate retries and retry topics. */
  readonly attempt: number
  readonly record: TransportRecord
  readonly signal: AbortSignal
}

/** The transaction the event id is recorded in: effects written here happen once, whatever the redelivery. */
export interface TransactionContext extends ContextBase {
  readonly tx: Tx
}

/** No transaction is held while a partner is called; the event id is recorded after the call succeeded. */
export interface ExternalContext extends ContextBase {
  readonly db: Db
}

interface HandlerBase<T extends EventType> {
  /** Consumer group; one group per side effect. */
  readonly group: string
  readonly topic: T
  /** Hold the event until just past this time (1 ms: delayed work such as hold expiration). */
  deliverAt?(event: CloudEvent<T>): Date | undefined
  /**
   * Distinct keys in flight per partition (records of one key run one at a time, in order, unless `inKeyOrder` is
   * false). The events in flight are handled together, a batch per transaction, so more keys in flight mean larger
   * batches. A key whose event is not due yet (`deliverAt`, a retry's delay) waits parked and does not count.
   */
  keyConcurrency?: number
  /**
   * false: records of one key need not wait for each other, because the handler keeps its own order (the first-come
   * coupon decisions follow the requests' arrival sequence, whichever event triggers them). They then run at once,
   * up to `keyConcurrency`, and go together into a transaction: a first-come coupon's burst is all under one key.
   */
  inKeyOrder?: boolean
  /**
   * true: no fan waits for this effect (a notification, a ranking, a webhook, the data platform's copy), so while the
   * instance's fans' operations keep it busy the event waits for them, in one busy spell up to the runtime's
   * `fans.yieldMs` (YIELD_TO_FANS_MS; see FanLoad). Left false for what a fan does wait for: a hold's expiry freeing its seat, a coupon's decision, a seat
   * offered to the waiting list, a verification code.
   */
  yieldsToFans?: boolean
  /**
   * true for a delayed handler (`deliverAt`) whose events fall due long after one busy spell's bound: fetching its
   * events waits for the fans as with `yieldsToFans`, but an event fetched is handled when it falls due, busy or not.
   * A hold's expiry: fetched up to YIELD_TO_FANS_MS late, minutes before it is due, and never late itself.
   */
  fetchYieldsToFans?: boolean
  /** Called once when the event is dead-lettered (for example to mark a delivery failed). */
  onDeadLetter?(event: CloudEvent<T> | undefined, error: string, db: Db): Promise<void>
}

/** What a batch is handled with: one transaction for all its events and their ids. */
export interface BatchContext {
  readonly tx: Tx
  readonly signal: AbortSignal
}

/**
 * Effects in the database, exactly once with the event id (the default). The runtime hands the events in flight
 * to one transaction at a time, recording their ids in it: `handleBatch` when given (set-based SQL for the whole
 * batch), else `handle` for each in turn. A batch that fails is tried again one event at a time, so one bad event
 * holds up none of the others.
 */
export interface TransactionHandler<T extends EventType = EventType> extends HandlerBase<T> {
  readonly mode?: 'transaction'
  handle(event: CloudEvent<T>, context: TransactionContext): Promise<void>
  /** The same effects as `handle` on each event, in order, for events of different keys. */
  handleBatch?(events: readonly CloudEvent<T>[], context: BatchContext): Promise<void>
}

/** A call to a partner that deduplicates by `eventId`. */
export interface ExternalHandler<T extends EventType = EventType> extends HandlerBase<T> {
  readonly mode: 'external'
  handle(event: CloudEvent<T>, context: ExternalContext): Promise<void>
}

export type EventHandler<T extends EventType = EventType> = TransactionHandler<T> | ExternalHandler<T>
