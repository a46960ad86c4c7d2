import { sql } from 'kysely'
import { Gauge } from 'prom-client'
import type { EventBackbone } from '../events/backbone.ts'
import { outboxBacklog } from '../events/outbox/backlog.ts'
import { countDeadLetters } from '../events/runtime/dead-letter-store.ts'
import type { Task } from '../module.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import type { Metrics } from '../platform/metrics.ts'
import { deploymentLag } from './deployment-lag.ts'

/** Totals read at one moment; rates come from two of them. */
interface Reading {
  at: number
  admitted: number
  waiting: number
  holds: number
  payments: number
  conflicts: number
  outboxBacklog: number
  deadLetters: number
  lag: Record<string, number>
  /** The transport did not answer the lag read: `lag` is empty, not zero. */
  lagUnknown?: boolean
}

/** One point of the console's charts. */
export interface SeriesPoint {
  at: string
  admissionsPerSecond: number
  queueLength: number
  holdsPerSecond: number
  paymentsPerSecond: number
  conflictsPerSecond: number
  outboxBacklog: number
  deadLetters: number
  /** Consumer lag per group (records behind, summed over partitions). */
  lag: Record<string, number>
  /** The lag could not be read at this point (the transport did not answer): `lag` is empty. */
  lagUnknown?: boolean
}

const HOLD_ROUTE = '/schedules/:scheduleId/seats/:seatId/hold'
const PAY_ROUTE = '/reservations/:reservationId/payment'

/**
 * The last 15 minutes of the figures the console charts, read every `intervalMs` by each API instance into a ring
 * in memory. Admissions, queue length, outbox backlog, lag and dead letters are read from the database and the
 * transport (the whole deployment); holds, payments and 409s from this instance's request counters (Prometheus
 * sums them over every instance).
 */
export class OpsSeries {
  readonly #readings: Reading[] = []
  readonly #capacity: number
  readonly intervalMs: number

  constructor(intervalMs: number, windowMs = 15 * 60_000) {
    this.intervalMs = intervalMs
    this.#capacity = Math.ceil(windowMs / intervalMs) + 1
  }

  record(reading: Reading): void {
    this.#readings.push(reading)
    if (this.#readings.length > this.#capacity) this.#readings.shift()
  }

  points(): SeriesPoint[] {
    const out: SeriesPoint[] = []
    for (let i = 1; i < this.#readings.length; i++) {
      const a = this.#readings[i - 1]!
      const b = this.#readings[i]!
      const seconds = Math.max(0.001, (b.at - a.at) / 1000)
      const rate = (x: number, y: number) => Math.max(0, Math.round(((y - x) / seconds) * 100) / 100)
      out.push({
        at: new Date(b.at).toISOString(),
        admissionsPerSecond: rate(a.admitted, b.admitted),
        queueLength: b.waiting,
        holdsPerSecond: rate(a.holds, b.holds),
        paymentsPerSecond: rate(a.payments, b.payments),
        conflictsPerSecond: rate(a.conflicts, b.conflicts),
        outboxBacklog: b.outboxBacklog,
        deadLetters: b.deadLetters,
        lag: b.lag,
        ...(b.lagUnknown ? { lagUnknown: true } : {}),
      })
    }
    return out
  }
}

async function requestCounts(
  metrics: Metrics,
): Promise<{ holds: number; payments: number; conflicts: number }> {
  const counts = { holds: 0, payments: 0, conflicts: 0 }
  for (const v of (await metrics.httpDuration.get()).values) {
    if (!v.metricName?.endsWith('_count')) continue
    const { route, status } = v.labels
    if (status === '409') counts.conflicts += v.value
    if (status === '201' && route === HOLD_ROUTE) counts.holds += v.value
    if (status === '201' && route === PAY_ROUTE) counts.payments += v.value
  }
  return counts
}

export function opsSeriesTask(
  deps: { db: Db; events: EventBackbone; metrics: Metrics; logger: Logger },
  series: OpsSeries,
): Task {
  // The same readings for Prometheus (every instance reports the deployment's figure: take max() across them).
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [deps.metrics.registry] })
  const waitingFans = gauge('queue_waiting_fans', 'Fans waiting in every line (deployment-wide)')
  const admittedFans = gauge(
    'queue_admitted_fans',
    'Fans let in so far, every line together (deployment-wide; only grows: admissions/s is its deriv())',
  )
  const deadLetters = gauge('dead_letters', 'Dead letters not replayed (deployment-wide)')
  let lagUnknown = false
  const loop = createBackgroundLoop({
    name: 'ops-series',
    logger: deps.logger,
    idleMs: series.intervalMs,
    async run() {
      const line = await sql<{ admitted: string; waiting: number }>`
        select coalesce((select sum(admitted_through) from queue_state), 0)::text as admitted,
               (select count(*) from queue_entries where status = 'waiting')::int as waiting`.execute(deps.db)
      const lag: Record<string, number> = {}
      const read = await deploymentLag(deps.events)
      for (const l of read.entries) lag[l.group] = (lag[l.group] ?? 0) + Number(l.lag)
      // once per outage, not on every reading
      if (read.unavailable && !lagUnknown)
        deps.logger.warn({ reason: read.unavailable }, 'consumer lag unknown')
      if (!read.unavailable && lagUnknown) deps.logger.info('consumer lag read again')
      lagUnknown = read.unavailable !== undefined
      const reading = {
        at: Date.now(),
        admitted: Number(line.rows[0]?.admitted ?? 0),
        waiting: line.rows[0]?.waiting ?? 0,
        ...(await requestCounts(deps.metrics)),
        outboxBacklog: (await outboxBacklog(deps.db)).backlog,
        deadLetters: await countDeadLetters(deps.db),
        lag,
        ...(read.unavailable ? { lagUnknown: true } : {}),
      }
      series.record(reading)
      waitingFans.set(reading.waiting)
      admittedFans.set(reading.admitted)
      deadLetters.set(reading.deadLetters)
      return false
    },
  })
  return { name: 'ops-series', roles: ['api'], start: () => loop.start(), stop: () => loop.stop() }
}
