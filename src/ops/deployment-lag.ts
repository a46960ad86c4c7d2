import { Gauge, type Registry } from 'prom-client'
import type { EventBackbone } from '../events/backbone.ts'
import type { LagEntry, LagUnknown } from '../events/transport/port.ts'

export interface LagReading {
  entries: LagEntry[]
  /**
   * Why some or all of the lag is unknown: the transport failed or did not answer in time (Kafka away), or some
   * brokers did not (one just died: `unknown` lists the partitions, and `entries` has the rest).
   */
  unavailable?: string
  /** The groups' partitions a partial reading could not tell (absent when it told all, or nothing). */
  unknown?: LagUnknown[]
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
  const { transport } = events
  const groups = events.runtime.subscriptions
  try {
    if (!transport.lagAsFarAsKnown) return { entries: await transport.lag(groups), at }
    const { entries, unknown, reason } = await transport.lagAsFarAsKnown(groups)
    if (unknown.length === 0) return { entries, at }
    const why = `${transport.kind}: ${reason}`
    return entries.length === 0
      ? { entries, unavailable: why, at }
      : { entries, unavailable: why, unknown, at }
  } catch (error) {
    return { entries: [], unavailable: `${events.transport.kind}: ${(error as Error).message}`, at }
  }
}

/**
 * The deployment's lag for Prometheus, from the same shared reading as the console (every instance reports it,
 * whatever its roles: take max() across them). While it cannot be read (the brokers away or silent), `consumer_lag`
 * has no series and `consumer_lag_unknown` says 1: an absent lag is then not mistaken for none, and an alert can
 * say so. While only part of it can (a broker just died), the series of the rest are there and it says 1 too.
 */
export function lagGauges(events: EventBackbone, registry: Registry): void {
  new Gauge({
    name: 'consumer_lag',
    help: 'Records not yet committed, per consumer group and partition (deployment-wide; absent while unknown)',
    labelNames: ['group', 'topic', 'partition'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const e of (await deploymentLag(events)).entries)
        this.set({ group: e.group, topic: e.topic, partition: String(e.partition) }, Number(e.lag))
    },
  })
  new Gauge({
    name: 'consumer_lag_unknown',
    help: 'Whether the last reading of the consumer lag failed, in whole or in part (brokers away or silent): 1, and consumer_lag then lacks the partitions it could not read',
    registers: [registry],
    async collect() {
      this.set((await deploymentLag(events)).unavailable === undefined ? 0 : 1)
    },
  })
}
