import type { EventBackbone } from '../events/backbone.ts'
import type { LagEntry } from '../events/transport/port.ts'

export interface LagReading {
  entries: LagEntry[]
  /** Why `entries` is empty: the transport failed or did not answer in time (Kafka away). */
  unavailable?: string
  /** When the reading was asked for (epoch ms). */
  at: number
}

/**
 * How long a reading answers every caller: the console's summary, every open console's refresh and the ops series
 * share one reading a second, and callers that come while one is being taken wait for it, instead of each asking
 * every group's offsets of the brokers (and, with Kafka away, each waiting out the transport's timeout).
 */
export const LAG_READING_REUSE_MS = 1_000

const readings = new WeakMap<EventBackbone, Promise<LagReading>>()

/**
 * The deployment's consumer lag (every group's, whatever this instance's roles), or why it is unknown. The rest of
 * what the console shows (outbox backlog, dead letters, the line) comes from the database and still does.
 */
export function deploymentLag(events: EventBackbone): Promise<LagReading> {
  const shared = readings.get(events)
  if (shared) return shared
  const now = Date.now()
  const reading = read(events, now)
  readings.set(events, reading)
  // Shared while it is taken and for a second after it was asked for.
  void reading.then(() => {
    const left = now + LAG_READING_REUSE_MS - Date.now()
    const forget = () => readings.get(events) === reading && readings.delete(events)
    if (left <= 0) forget()
    else setTimeout(forget, left).unref()
  })
  return reading
}

async function read(events: EventBackbone, at: number): Promise<LagReading> {
  try {
    return { entries: await events.transport.lag(events.runtime.subscriptions), at }
  } catch (error) {
    return { entries: [], unavailable: `${events.transport.kind}: ${(error as Error).message}`, at }
  }
}
