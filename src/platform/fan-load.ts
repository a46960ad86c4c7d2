import type { DatabaseHandle } from './db.ts'

/**
 * The fans' operations in flight on this instance's group commits (holds, payments, queue entries, coupon requests),
 * and the turns work that no fan waits for takes behind them. During a burst, a notification, a ranking or a
 * webhook committed beside the fans' batches took the same CPU and database from them: on the thirty-eighth machine
 * a third of the event loop and a fifth of PostgreSQL's statement time in a Kafka payments run, whose p99 went over
 * 100 ms. Such work waits instead while `busyAt` or more fans' operations are in flight, and goes once fewer have
 * been for `quietMs`, in larger batches. It never waits longer than the `maxMs` it asks for, from the first of its
 * waits: a busy spell longer than that shares the instance with its side effects from then on, until the fans are
 * fewer again, so they never fall behind for good however long the sale goes on. All waits share one turn (one timer).
 */
export class FanLoad {
  readonly busyAt: number
  readonly quietMs: number
  #inFlight = 0
  /** `busyAt` or more in flight, and not yet `quietMs` below since. */
  #busy = false
  /** This busy spell's side effects waited their longest: they go on beside the fans until it ends. */
  #waitedOut = false
  #quiet: NodeJS.Timeout | undefined
  #turn: { promise: Promise<void>; release: () => void; timer: NodeJS.Timeout; since: number } | undefined
  #yieldedMs = 0
  #turns = 0

  constructor(busyAt = FANS_BUSY_AT, quietMs = FANS_QUIET_MS) {
    this.busyAt = busyAt
    this.quietMs = quietMs
  }

  /** Fans' operations submitted and not yet answered. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** The turns taken so far, and how long they lasted in all (for metrics). */
  get yielded(): { turns: number; ms: number } {
    return { turns: this.#turns, ms: this.#yieldedMs }
  }

  /** A busy spell: `busyAt` or more in flight, or fewer for less than `quietMs` since. */
  get busy(): boolean {
    return this.#busy
  }

  /** Whether work asking to wait up to `maxMs` would wait now: busy, and this spell's waits not yet over. */
  holdsBack(maxMs: number): boolean {
    return maxMs > 0 && this.#busy && !this.#waitedOut
  }

  enter(): void {
    if (++this.#inFlight < this.busyAt) return
    this.#busy = true
    if (this.#quiet) {
      clearTimeout(this.#quiet)
      this.#quiet = undefined
    }
  }

  leave(): void {
    if (--this.#inFlight >= this.busyAt || !this.#busy || this.#quiet) return
    // A batch's answers take many off at once, and its fans are back with their next request a moment later.
    this.#quiet = setTimeout(() => {
      this.#quiet = undefined
      this.#busy = false
      this.#waitedOut = false
      this.#release()
    }, this.quietMs)
    this.#quiet.unref()
  }

  /**
   * Undefined when work may go now (not busy, waited out in this busy spell, or `maxMs` 0); else the turn to wait
   * for: it comes once the fans have been fewer than `busyAt` for `quietMs`, or `maxMs` after the turn's first wait
   * began, which ends the waits of this busy spell.
   */
  turn(maxMs: number): Promise<void> | undefined {
    if (!this.holdsBack(maxMs)) return undefined
    if (!this.#turn) {
      let release!: () => void
      const promise = new Promise<void>((resolve) => {
        release = resolve
      })
      const timer = setTimeout(() => {
        this.#waitedOut = true
        this.#release()
      }, maxMs)
      timer.unref()
      this.#turn = { promise, release, timer, since: performance.now() }
      this.#turns++
    }
    return this.#turn.promise
  }

  #release(): void {
    const turn = this.#turn
    if (!turn) return
    this.#turn = undefined
    clearTimeout(turn.timer)
    this.#yieldedMs += performance.now() - turn.since
    turn.release()
  }
}

/**
 * In flight at once, the fans' operations keep one instance's group commits and database busy (about what a 2-core
 * machine's PostgreSQL serves at 3,000 payments a second with its ~10 ms batches); below that the CPU has room for
 * the side effects beside them.
 */
export const FANS_BUSY_AT = 32

/**
 * How long the fans in flight stay fewer than FANS_BUSY_AT before side effects go on: a batch's answers drop the count
 * at once, and those fans' next requests raise it again within a few milliseconds.
 */
export const FANS_QUIET_MS = 50

const loads = new WeakMap<DatabaseHandle, FanLoad>()

/** This database handle's FanLoad: the group commits count into it, the consumers' runtime waits on it. */
export function fanLoad(database: DatabaseHandle): FanLoad {
  let load = loads.get(database)
  if (!load) {
    load = new FanLoad()
    loads.set(database, load)
  }
  return load
}
