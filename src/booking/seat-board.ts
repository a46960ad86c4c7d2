import { sql } from 'kysely'
import type { Task } from '../module.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { listen } from '../platform/pg-listen.ts'
import { pastCursor, SequenceCursor } from '../platform/sequence-cursor.ts'

/** The NOTIFY channel of seats released before their deadline (a cancelled hold). */
export const SEAT_RELEASED = 'seat_released'

export type SeatState = 'available' | 'held' | 'sold'

export interface SeatChange {
  id: string
  scheduleId: string
  status: SeatState
  /** ms since the epoch; set for held seats. */
  heldUntil: number | undefined
  /** The seat's revision when read from the database; absent for this instance's own changes, known at once. */
  rev?: number
}

/**
 * This instance's picture of the seats, so the crowd's losing attempts in a flash sale are answered without a
 * database round trip. It only ever says "taken", never "free": every win is decided by the database. A held seat
 * reads taken until its own deadline and not a moment longer; a sold one until it changes. It learns from this
 * instance's own holds and payments at once, and from every other instance's changes (expiry included) through
 * the seat revision the poller follows; a hold cancelled before its deadline also arrives by NOTIFY.
 */
export class SeatBoard {
  readonly #until = new Map<string, number>()
  readonly #enabled: boolean
  readonly #maxEntries: number
  readonly #listeners = new Set<(change: SeatChange) => void>()
  /** Counts what this instance learned itself; `#learned` says when, per seat, until a later read supersedes it. */
  #clock = 0
  readonly #learned = new Map<string, number>()
  /** The attempt on each seat this instance has at the database right now. */
  readonly #attempts = new Map<string, Promise<unknown>>()

  constructor(options: { enabled: boolean; maxEntries?: number }) {
    this.#enabled = options.enabled
    this.#maxEntries = options.maxEntries ?? 500_000
  }

  isTaken(seatId: string, now = Date.now()): boolean {
    const until = this.#until.get(seatId)
    if (until === undefined) return false
    if (until > now) return true
    this.#until.delete(seatId)
    return false
  }

  /**
   * The attempt on the seat this instance has at the database, settled (never rejected) when it answers; undefined
   * when there is none or the board is off. A burst on a free seat waits for the first attempt instead of sending
   * hundreds after it: its answer usually makes the seat taken.
   */
  attemptInFlight(seatId: string): Promise<unknown> | undefined {
    return this.#attempts.get(seatId)
  }

  /** Marks `attempt` as this instance's attempt on the seat until it settles; returns it unchanged. */
  trackAttempt<T>(seatId: string, attempt: Promise<T>): Promise<T> {
    if (!this.#enabled) return attempt
    const settle = () => {
      if (this.#attempts.get(seatId) === settled) this.#attempts.delete(seatId)
    }
    const settled = attempt.then(settle, settle)
    this.#attempts.set(seatId, settled)
    return attempt
  }

  /** Taken before a read of the database starts and given to apply() with its result. */
  readStarted(): number {
    return this.#clock
  }

  recordHeld(scheduleId: string, seatId: string, heldUntilMs: number): void {
    this.#learn(seatId)
    this.#set(seatId, heldUntilMs)
    this.#tell({ id: seatId, scheduleId, status: 'held', heldUntil: heldUntilMs })
  }

  recordSold(scheduleId: string, seatId: string): void {
    this.#learn(seatId)
    this.#set(seatId, Number.POSITIVE_INFINITY)
    this.#tell({ id: seatId, scheduleId, status: 'sold', heldUntil: undefined })
  }

  /**
   * Calls `listener` with every seat state this instance learns (its own holds and payments at once, every
   * instance's changes from the revision poll, repeats included); the live seat streams follow it. Returns the
   * function that stops it. Listeners hear changes whether or not the board answers from memory.
   */
  onChange(listener: (change: SeatChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  forget(seatId: string): void {
    this.#learn(seatId)
    this.#until.delete(seatId)
  }

  /**
   * Changes read from the database, newest state of each seat last. `readStarted` (from readStarted() before the
   * read): a seat this instance learned about after the read began keeps what it learned, since the read may predate
   * it (a refund's release must not be undone by a poll that still saw the seat sold).
   */
  apply(changes: readonly SeatChange[], now = Date.now(), readStarted = Number.POSITIVE_INFINITY): void {
    for (const c of changes) {
      if ((this.#learned.get(c.id) ?? -1) > readStarted) continue
      if (c.status === 'sold') this.#set(c.id, Number.POSITIVE_INFINITY)
      else if (c.status === 'held' && c.heldUntil !== undefined && c.heldUntil > now)
        this.#set(c.id, c.heldUntil)
      else {
        this.forget(c.id)
        // a lapsed hold reads as available, as everywhere else
        if (c.status === 'held') {
          this.#tell({ ...c, status: 'available', heldUntil: undefined })
          continue
        }
      }
      this.#tell(c)
    }
    // What was learned before this read is in it (or in a later one): only later knowledge needs keeping.
    if (Number.isFinite(readStarted))
      for (const [id, at] of this.#learned) if (at <= readStarted) this.#learned.delete(id)
  }

  #learn(seatId: string): void {
    this.#learned.set(seatId, ++this.#clock)
  }

  #tell(change: SeatChange): void {
    for (const listener of this.#listeners) listener(change)
  }

  #set(seatId: string, until: number): void {
    if (!this.#enabled) return
    if (this.#until.size >= this.#maxEntries) this.#until.clear()
    this.#until.set(seatId, until)
  }
}

/**
 * Keeps a board current: reads the seats changed since the last revision it saw and, by revision, those missing below
 * it (a writer whose transaction committed after a later one: SequenceCursor), and forgets seats released early at
 * their NOTIFY.
 */
export function seatBoardTask(
  database: DatabaseHandle,
  board: SeatBoard,
  logger: Logger,
  pollMs: number,
): Task {
  const db = database.db
  // The revisions read (see SequenceCursor); undefined until the first poll, which reads where they stand.
  let cursor: SequenceCursor | undefined
  let unlisten: (() => Promise<void>) | undefined
  const loop = createBackgroundLoop({
    name: 'seat-board',
    logger,
    idleMs: pollMs,
    async run() {
      if (cursor === undefined) {
        const top = await sql<{
          rev: number
        }>`select coalesce(max(rev), 0)::bigint as rev from seats`.execute(db)
        cursor = new SequenceCursor(Number(top.rows[0]?.rev ?? 0), REV_LOOKBACK)
        return false
      }
      const readStarted = board.readStarted()
      const rows = await sql<{
        id: string
        schedule_id: string
        status: SeatState
        held_until: Date | null
        rev: number
      }>`${pastCursor('seats', ['id', 'schedule_id', 'status', 'held_until', 'rev'], 'rev', cursor, POLL_LIMIT)}`.execute(
        db,
      )
      board.apply(
        rows.rows.map((r) => ({
          id: r.id,
          scheduleId: r.schedule_id,
          status: r.status,
          heldUntil: r.held_until?.getTime(),
          rev: Number(r.rev),
        })),
        Date.now(),
        readStarted,
      )
      cursor.saw(rows.rows.map((r) => Number(r.rev)))
      return rows.rows.length === POLL_LIMIT
    },
  })
  return {
    name: 'seat-board',
    async start() {
      unlisten = await listen(database, SEAT_RELEASED, (seatId) => {
        if (seatId) board.forget(seatId)
      })
      loop.start()
    },
    async stop() {
      await loop.stop()
      await unlisten?.()
    },
  }
}

/** How far below the last revision seen a missing one is still looked for (a writer that committed late). */
const REV_LOOKBACK = 256
const POLL_LIMIT = 5_000
