import { constants, PerformanceObserver } from 'node:perf_hooks'
import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Histogram,
  type HistogramConfiguration,
  type LabelValues,
  Registry,
} from 'prom-client'

export interface Metrics {
  readonly registry: Registry
  readonly httpDuration: SeriesHistogram<'method' | 'route' | 'status'>
  /** Calls per group-committed transaction of a hot routine (1 when it went alone): how busy its database path is. */
  readonly groupCommitSize: Histogram<'routine'>
  /** Calls done by a batch's pass together: the rest of the batched calls went one by one, which is slower. */
  readonly groupCommitTogether: Counter<'routine'>
}

/** One registry per service instance, so tests can build many apps in one process. */
export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  observeEveryCollection(registry)
  const httpDuration = new SeriesHistogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const groupCommitSize = new Histogram({
    name: 'db_group_commit_calls',
    help: 'Calls per transaction of a group-committed routine (1 when the call went alone)',
    labelNames: ['routine'],
    buckets: [1, 2, 4, 8, 16, 32],
    registers: [registry],
  })
  const groupCommitTogether = new Counter({
    name: 'db_group_commit_together_total',
    help: 'Calls of a group-committed routine done by its batch pass together (the rest of db_group_commit_calls_sum went one by one)',
    labelNames: ['routine'],
    registers: [registry],
  })
  return { registry, httpDuration, groupCommitSize, groupCommitTogether }
}

/** One label set's observations of a SeriesHistogram, counted in place until the histogram is scraped. */
export interface HistogramSeries {
  observe(value: number): void
}

/** One label set's increments of a SeriesCounter, counted in place until the counter is scraped. */
export interface CounterSeries {
  inc(by?: number): void
}

interface HistogramEntry {
  labels: object
  bucketValues: Record<number, number>
  sum: number
  count: number
}

/**
 * prom-client's Histogram with a series per label set whose observe is a bucket increment. prom-client's own observe
 * checks and joins the labels on every call, a child's too (0.3-0.6 µs; a consumed event's two histograms and counter
 * were 13 % of the consumer's CPU, profiled). The series' counts are added to the histogram's own when it is scraped,
 * so the exposition is prom-client's. That reaches into prom-client's entries (its hashMap and upperBounds, as of the
 * 15.1 the lockfile pins): test/unit/metrics.test.ts compares the exposition with a plain Histogram's, so a release
 * that moves them fails there.
 */
export class SeriesHistogram<T extends string> extends Histogram<T> {
  readonly #series: { labels: LabelValues<T>; counts: Float64Array; sum: number; count: number }[] = []

  constructor(config: HistogramConfiguration<T>) {
    const collect = config.collect
    super({
      ...config,
      collect(this: Histogram<T>) {
        ;(this as SeriesHistogram<T>).#fold()
        return collect?.call(this)
      },
    })
  }

  /** The series of `labels`: keep it, and observe through it. */
  series(labels: LabelValues<T>): HistogramSeries {
    const bounds = (this as unknown as { upperBounds: readonly number[] }).upperBounds
    const s = { labels, counts: new Float64Array(bounds.length), sum: 0, count: 0 }
    this.#series.push(s)
    return {
      observe(value: number): void {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
        s.sum += value
        s.count++
        // Above the last bound only the count grows: prom-client derives the +Inf bucket from it.
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]!) {
            s.counts[i]!++
            return
          }
        }
      },
    }
  }

  #fold(): void {
    const self = this as unknown as {
      hashMap: Record<string, HistogramEntry>
      upperBounds: readonly number[]
      labelNames: readonly string[]
    }
    for (const s of this.#series) {
      if (s.count === 0) continue
      // prom-client's entry for these labels (observed through it too, perhaps), made when it has none (at first, or
      // after a reset() emptied its map). Looked up at each scrape: a few label sets, every 15 s or so.
      const find = () =>
        Object.values(self.hashMap).find((e) => sameLabels(e.labels, s.labels, self.labelNames))
      let entry = find()
      if (!entry) {
        this.zero(s.labels)
        entry = find()!
      }
      entry.sum += s.sum
      entry.count += s.count
      for (let i = 0; i < s.counts.length; i++) entry.bucketValues[self.upperBounds[i]!]! += s.counts[i]!
      s.counts.fill(0)
      s.sum = 0
      s.count = 0
    }
  }
}

function sameLabels(a: object, b: object, names: readonly string[]): boolean {
  return names.every(
    (n) =>
      String((a as Record<string, unknown>)[n] ?? '') === String((b as Record<string, unknown>)[n] ?? ''),
  )
}

/** prom-client's Counter with a series per label set whose inc adds to a number, added to the counter when scraped. */
export class SeriesCounter<T extends string> extends Counter<T> {
  readonly #series: { labels: LabelValues<T>; pending: number }[] = []

  constructor(config: CounterConfiguration<T>) {
    const collect = config.collect
    super({
      ...config,
      collect(this: Counter<T>) {
        for (const s of (this as SeriesCounter<T>).#series) {
          if (s.pending === 0) continue
          this.inc(s.labels, s.pending)
          s.pending = 0
        }
        return collect?.call(this)
      },
    })
  }

  /** The series of `labels`: keep it, and count through it. */
  series(labels: LabelValues<T>): CounterSeries {
    const s = { labels, pending: 0 }
    this.#series.push(s)
    return {
      inc(by = 1): void {
        if (!(by >= 0) || !Number.isFinite(by)) throw new Error('It is not possible to decrease a counter')
        s.pending += by
      },
    }
  }
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}

/**
 * `nodejs_gc_duration_seconds` with every collection in it. prom-client's (15.1.3) reads only the first entry of each
 * delivery, and Node delivers the collections of one turn of the event loop together: over a payments run of the
 * benchmark it saw 42 of the service's 55 young collections (one delivery at start held 15). Same name, help, labels
 * and buckets, so dashboards and the benchmark read it as before.
 */
function observeEveryCollection(registry: Registry): void {
  registry.removeSingleMetric('nodejs_gc_duration_seconds')
  const durations = new Histogram({
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
    registers: [registry],
  })
  const byKind = new Map<number, Histogram.Internal<'kind'>>()
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = ((entry as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind ?? 0
      let series = byKind.get(kind)
      if (!series) {
        series = durations.labels({ kind: GC_KINDS[kind] ?? 'unknown' })
        byKind.set(kind, series)
      }
      series.observe(entry.duration / 1000)
    }
  }).observe({ entryTypes: ['gc'] })
}
