import type { Logger } from '../platform/logger.ts'
import { type QueueEntry, readEntry } from '../queue/queue-sql.ts'
import type { QueueWatch, Watermark } from '../queue/queue-watch.ts'
import { type Place, type PlaceDeps, placeOf } from '../queue/read-place.ts'
import type { EventStream } from './event-stream.ts'

/** A place as the waiting-room stream sends it: the API's place, with the number of fans ahead. */
export type PlaceEvent = Omit<Place, 'ticket'> & { ahead: number | null }

function toEvent(place: Place): PlaceEvent {
  const { ticket: _ticket, ...rest } = place
  return { ...rest, ahead: place.position === null ? null : Math.max(0, place.position - 1) }
}

/**
 * Follows one fan's place on a stream. The entry is read from the database once at the start; then every advance
 * of the line this instance learns (its own admission rounds, other instances' through the 100 ms watch) moves the
 * place in memory. The database is read again only when the line reaches the fan (for the signed queue token) or
 * the sale opens for a fan who joined before it (to learn the place drawn). Sends `place` while waiting and one
 * `admitted` (with the token) when admitted.
 */
export async function followPlace(
  deps: PlaceDeps & { logger: Logger; lines: LineFeed },
  stream: EventStream,
  scheduleId: string,
  userId: string,
  first: QueueEntry,
): Promise<void> {
  let entry = first
  let reading = false
  let again = false
  const send = () => {
    const place = placeOf(deps, scheduleId, userId, {
      status: entry.status,
      seq: entry.seq,
      admittedThrough: entry.admittedThrough,
      admittedUntil: entry.admittedUntil?.toISOString() ?? null,
    })
    stream.send(place.status === 'admitted' ? 'admitted' : 'place', toEvent(place))
  }
  const reread = async (): Promise<void> => {
    if (reading) {
      again = true
      return
    }
    reading = true
    try {
      entry = await readEntry(deps.db, scheduleId, userId)
      send()
    } catch (error) {
      deps.logger.warn({ err: error, scheduleId }, 'waiting-room stream could not read the entry')
    } finally {
      reading = false
      if (again && !stream.closed) {
        again = false
        void reread()
      }
    }
  }
  const onAdvance = (watermark: Watermark) => {
    if (entry.status !== 'waiting' || stream.closed) return
    if (entry.seq === null) {
      if (watermark.opened) void reread()
      return
    }
    if (watermark.admittedThrough >= entry.seq) {
      void reread()
      return
    }
    if (watermark.admittedThrough <= entry.admittedThrough) return
    entry = { ...entry, admittedThrough: watermark.admittedThrough }
    send()
  }
  send()
  const stop = deps.lines.subscribe(scheduleId, onAdvance)
  stream.onClose(stop)
  // the line may have moved between the read and the subscription
  const known = deps.watch.watermark(scheduleId)
  if (known) onAdvance(known)
}

/** Hands the advances of each line to the streams following it: one listener on the watch, however many fans. */
export class LineFeed {
  readonly #lines = new Map<string, Set<(w: Watermark) => void>>()

  constructor(watch: QueueWatch) {
    watch.onAdvance((scheduleId, watermark) => {
      for (const listener of this.#lines.get(scheduleId) ?? []) listener(watermark)
    })
  }

  subscribe(scheduleId: string, listener: (w: Watermark) => void): () => void {
    let listeners = this.#lines.get(scheduleId)
    if (!listeners) {
      listeners = new Set()
      this.#lines.set(scheduleId, listeners)
    }
    const set = listeners
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#lines.delete(scheduleId)
    }
  }
}
