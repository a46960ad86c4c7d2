import { sql } from 'kysely'
import type { DatabaseHandle, Db } from '../platform/db.ts'
import { listen } from '../platform/pg-listen.ts'

/**
 * Per-process memory of seats recently seen taken, so the crowd's losing attempts in a flash sale are answered
 * without a database round trip. It only ever says "taken", never "free": every win is still decided by the
 * database. A held seat is remembered for at most `ttlMs` and never past its hold's deadline, so a lapsed hold
 * is seen free at once; a released seat is forgotten by every instance through a database notification (and,
 * were one lost, after `ttlMs` at most).
 */
export class SeatMemory {
  readonly #until = new Map<string, number>()
  readonly #ttlMs: number
  readonly #maxEntries: number

  constructor(ttlMs: number, maxEntries = 200_000) {
    this.#ttlMs = ttlMs
    this.#maxEntries = maxEntries
  }

  isTaken(seatId: string, now = Date.now()): boolean {
    const until = this.#until.get(seatId)
    if (until === undefined) return false
    if (until > now) return true
    this.#until.delete(seatId)
    return false
  }

  rememberHeld(seatId: string, heldUntil: Date | undefined, now = Date.now()): void {
    const limit = now + this.#ttlMs
    this.#set(seatId, heldUntil ? Math.min(heldUntil.getTime(), limit) : limit)
  }

  /** Sold seats stay sold; they are still re-checked every few TTLs so memory never outlives a data fix. */
  rememberSold(seatId: string, now = Date.now()): void {
    this.#set(seatId, now + this.#ttlMs * 20)
  }

  forget(seatId: string): void {
    this.#until.delete(seatId)
  }

  #set(seatId: string, until: number): void {
    if (this.#ttlMs <= 0) return
    if (this.#until.size >= this.#maxEntries) this.#until.clear()
    this.#until.set(seatId, until)
  }
}

const SEAT_RELEASED = 'seat_released'

/** Tells every instance, when the caller's transaction commits, that a seat is free again before its deadline. */
export async function notifySeatReleased(tx: Db, seatId: string): Promise<void> {
  await sql`select pg_notify(${SEAT_RELEASED}, ${seatId})`.execute(tx)
}

/** Forgets released seats as their notices arrive; returns the function that stops listening. */
export function forgetReleasedSeats(
  database: DatabaseHandle,
  seats: SeatMemory,
): Promise<() => Promise<void>> {
  return listen(database, SEAT_RELEASED, (seatId) => {
    if (seatId) seats.forget(seatId)
  })
}
