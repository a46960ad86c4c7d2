import { Counter, Gauge, type Registry } from 'prom-client'
import type { FanLoad } from '../../platform/fan-load.ts'
import {
  type CounterSeries,
  type HistogramSeries,
  SeriesCounter,
  SeriesHistogram,
} from '../../platform/metrics.ts'

type Labels = { group: string; topic: string }

/** A group's metrics on one topic, kept by the runtime: counting an event handled costs no label lookup. */
export interface GroupMetrics {
  /** One event handled: how long the handler took and how long since the event was committed. */
  done(outcome: 'done' | 'duplicate', handlerMs: number, eventTime: string): void
  skipped(): void
}

/** What the consumer runtime counts, per group and topic. */
export class RuntimeMetrics {
  readonly #handled: SeriesCounter<'group' | 'topic' | 'outcome'>
  readonly retried: Counter<'group' | 'topic' | 'stage'>
  readonly deadLettered: Counter<'group' | 'topic'>
  readonly #duration: SeriesHistogram<'group' | 'topic'>
  readonly #endToEnd: SeriesHistogram<'group' | 'topic'>

  /**
   * @param waitingForDue the records each group has fetched that wait for their time, read when scraped (the
   * consumers' parked keys: nothing is counted as they come and go)
   */
  constructor(
    registry: Registry,
    fans: FanLoad | undefined,
    waitingForDue: () => Iterable<[string, number]>,
  ) {
    const registers = [registry]
    this.#handled = new SeriesCounter({
      name: 'events_handled_total',
      help: 'Events handled by consumer group (outcome: done, duplicate, skipped)',
      labelNames: ['group', 'topic', 'outcome'],
      registers,
    })
    this.retried = new Counter({
      name: 'events_retried_total',
      help: 'Events moved to a retry topic',
      labelNames: ['group', 'topic', 'stage'],
      registers,
    })
    this.deadLettered = new Counter({
      name: 'events_dead_lettered_total',
      help: 'Events moved to the dead letters',
      labelNames: ['group', 'topic'],
      registers,
    })
    this.#duration = new SeriesHistogram({
      name: 'event_handler_duration_seconds',
      help: 'Handler latency per group',
      labelNames: ['group', 'topic'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    this.#endToEnd = new SeriesHistogram({
      name: 'event_end_to_end_seconds',
      help: 'From the event time (commit of its cause) to the end of its handling',
      labelNames: ['group', 'topic'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers,
    })
    new Gauge({
      name: 'events_waiting_for_due',
      help: "Records fetched and waiting for their time (a hold's expiry, an offer's deadline, a retry's delay)",
      labelNames: ['group'],
      registers,
      collect() {
        this.reset()
        for (const [group, n] of waitingForDue()) this.set({ group }, n)
      },
    })
    if (fans) {
      // Read from the FanLoad when scraped: nothing is counted on the fans' path.
      let turns = 0
      let ms = 0
      new Counter({
        name: 'events_yielded_to_fans_total',
        help: "Turns the side effects no fan waits for waited behind the fans' operations (YIELD_TO_FANS_MS)",
        registers,
        collect() {
          const { turns: now } = fans.yielded
          this.inc(now - turns)
          turns = now
        },
      })
      new Counter({
        name: 'events_yielded_to_fans_seconds_total',
        help: "Time the side effects no fan waits for waited behind the fans' operations, turns summed",
        registers,
        collect() {
          const { ms: now } = fans.yielded
          this.inc((now - ms) / 1000)
          ms = now
        },
      })
    }
  }

  /** The series of a group on a topic: made once per group, kept by the runtime. */
  forGroup(labels: Labels): GroupMetrics {
    const duration: HistogramSeries = this.#duration.series(labels)
    const endToEnd: HistogramSeries = this.#endToEnd.series(labels)
    const outcomes: Record<'done' | 'duplicate' | 'skipped', CounterSeries> = {
      done: this.#handled.series({ ...labels, outcome: 'done' }),
      duplicate: this.#handled.series({ ...labels, outcome: 'duplicate' }),
      skipped: this.#handled.series({ ...labels, outcome: 'skipped' }),
    }
    return {
      done(outcome, handlerMs, eventTime) {
        duration.observe(handlerMs / 1000)
        outcomes[outcome].inc()
        endToEnd.observe(Math.max(0, Date.now() - Date.parse(eventTime)) / 1000)
      },
      skipped() {
        outcomes.skipped.inc()
      },
    }
  }
}
