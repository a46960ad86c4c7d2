import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Counter, Histogram, Registry } from 'prom-client'
import { SeriesCounter, SeriesHistogram } from '../../src/platform/metrics.ts'

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1]
// On a bound, between bounds, above the last one (the +Inf bucket only), zero.
const values = [0, 0.001, 0.0011, 0.004, 0.005, 0.02, 0.1, 0.25, 7, 0.05, 0.0099]

/** The same metric twice, each on a registry of its own under one name: prom-client's and the series one. */
function pair<A, B>(make: (registry: Registry) => A, makeSeries: (registry: Registry) => B) {
  const plain = new Registry()
  const series = new Registry()
  return {
    a: make(plain),
    b: makeSeries(series),
    text: () => Promise.all([plain.metrics(), series.metrics()]),
  }
}

test("a SeriesHistogram's exposition is prom-client's for the same observations, scraped between them and after a reset", async () => {
  const config = { name: 'd_seconds', help: 'd', labelNames: ['group', 'topic'] as const, buckets }
  const { a, b, text } = pair(
    (registry) => new Histogram({ ...config, registers: [registry] }),
    (registry) => new SeriesHistogram({ ...config, registers: [registry] }),
  )
  const ranking = b.series({ group: 'ranking', topic: 't' })
  const notify = b.series({ group: 'notify', topic: 't' })
  for (const [i, v] of values.entries()) {
    a.observe({ group: 'ranking', topic: 't' }, v)
    ranking.observe(v)
    if (i % 3 === 0) {
      a.observe({ group: 'notify', topic: 't' }, v * 2)
      notify.observe(v * 2)
    }
    if (i === 4) {
      const [plain, series] = await text()
      assert.equal(series, plain)
    }
  }
  // Observed through prom-client's own observe as well: both add to one entry.
  a.observe({ group: 'ranking', topic: 't' }, 0.03)
  b.observe({ group: 'ranking', topic: 't' }, 0.03)
  let [plain, series] = await text()
  assert.match(series, /d_seconds_bucket\{le="\+Inf",group="ranking",topic="t"\} 12/)
  assert.equal(series, plain)

  a.reset()
  b.reset()
  a.observe({ group: 'ranking', topic: 't' }, 0.002)
  ranking.observe(0.002)
  ;[plain, series] = await text()
  assert.match(series, /d_seconds_count\{group="ranking",topic="t"\} 1\n/)
  assert.equal(series, plain)
  assert.throws(() => ranking.observe(Number.NaN), /not a valid number/)
})

test("a SeriesCounter's exposition is prom-client's for the same increments, its own collect still called", async () => {
  let collected = 0
  const config = {
    name: 'h_total',
    help: 'h',
    labelNames: ['group', 'outcome'] as const,
    collect() {
      collected++
    },
  }
  const { a, b, text } = pair(
    (registry) => new Counter({ ...config, registers: [registry] }),
    (registry) => new SeriesCounter({ ...config, registers: [registry] }),
  )
  const done = b.series({ group: 'g', outcome: 'done' })
  const duplicate = b.series({ group: 'g', outcome: 'duplicate' })
  for (let i = 0; i < 7; i++) {
    a.inc({ group: 'g', outcome: 'done' })
    done.inc()
  }
  a.inc({ group: 'g', outcome: 'duplicate' }, 2)
  duplicate.inc(2)
  let [plain, series] = await text()
  assert.match(series, /h_total\{group="g",outcome="done"\} 7/)
  assert.equal(series, plain)
  done.inc()
  a.inc({ group: 'g', outcome: 'done' })
  ;[plain, series] = await text()
  assert.match(series, /h_total\{group="g",outcome="done"\} 8/)
  assert.equal(series, plain)
  assert.equal(collected, 4)
  assert.throws(() => done.inc(-1), /not possible to decrease/)
})
