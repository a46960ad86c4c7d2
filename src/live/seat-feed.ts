import type { SeatChange, SeatState } from '../booking/seat-board.ts'

/** A seat's state as the seat stream sends it. */
export interface SeatEvent {
  id: string
  status: SeatState
  /** ISO time until which a held seat stays held (the page turns it available then by itself). */
  heldUntil?: string
}

/** `rev`: the revision the state was read at, when it came from the database. */
type Listener = (event: SeatEvent, rev: number | undefined) => void

/**
 * Fans the seat changes this instance learns (from its SeatBoard) out to the streams of each schedule. The board
 * hears the same state more than once (the revision poll reads a few hundred revisions again each time), so only
 * a state that differs from the last one sent for that seat goes out, and a state read from the database at an
 * older revision than one already sent is dropped.
 */
export class SeatFeed {
  readonly #schedules = new Map<
    string,
    { listeners: Set<Listener>; seats: Map<string, { key: string; rev: number }> }
  >()

  /** Feeds it the board's changes: `board.onChange((c) => feed.accept(c))`. */
  accept(change: SeatChange): void {
    const schedule = this.#schedules.get(change.scheduleId)
    if (!schedule) return
    const key = stateKey(change.status, change.heldUntil)
    const known = schedule.seats.get(change.id)
    if (known && (known.key === key || (change.rev !== undefined && change.rev < known.rev))) return
    schedule.seats.set(change.id, { key, rev: change.rev ?? known?.rev ?? 0 })
    const event: SeatEvent = {
      id: change.id,
      status: change.status,
      ...(change.status === 'held' && change.heldUntil !== undefined
        ? { heldUntil: new Date(change.heldUntil).toISOString() }
        : {}),
    }
    for (const listener of schedule.listeners) listener(event, change.rev)
  }

  /**
   * Records the states a snapshot read (for seats whose last known revision is older), so the repeats of them the
   * revision poll brings are not sent again.
   */
  prime(
    scheduleId: string,
    seats: readonly { id: string; status: SeatState; heldUntil: string | undefined; rev: number }[],
  ): void {
    const schedule = this.#schedules.get(scheduleId)
    if (!schedule) return
    for (const seat of seats) {
      const known = schedule.seats.get(seat.id)
      if (!known || known.rev < seat.rev)
        schedule.seats.set(seat.id, { key: stateKey(seat.status, seat.heldUntil), rev: seat.rev })
    }
  }

  /** Calls `listener` with every new seat state of the schedule; returns the function that stops it. */
  subscribe(scheduleId: string, listener: Listener): () => void {
    let schedule = this.#schedules.get(scheduleId)
    if (!schedule) {
      schedule = { listeners: new Set(), seats: new Map() }
      this.#schedules.set(scheduleId, schedule)
    }
    schedule.listeners.add(listener)
    return () => {
      schedule.listeners.delete(listener)
      if (schedule.listeners.size === 0) this.#schedules.delete(scheduleId)
    }
  }
}

function stateKey(status: SeatState, heldUntil: number | string | undefined): string {
  if (status !== 'held' || heldUntil === undefined) return status
  return `held:${typeof heldUntil === 'string' ? Date.parse(heldUntil) : heldUntil}`
}
