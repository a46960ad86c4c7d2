import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { routesSelected, seriesRead, servedRoutes } from '../support/promql.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

/** /metrics against Prometheus naming conventions, and the provisioned Grafana dashboard against the registry. */
describe('metrics names and the Grafana dashboard', () => {
  let t: TestApp
  let types: Map<string, string>
  before(async () => {
    t = await startTestApp('pglite', 'metrics_names')
    const res = await new Api(t.url).get('/metrics')
    assert.equal(res.status, 200)
    types = new Map(
      [...String(res.body).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as [string, string]),
    )
  })
  after(() => t.close())

  test('counters end in _total, durations are in seconds, no other time unit appears in a name', () => {
    assert.ok(types.size > 20, `only ${types.size} metrics`)
    for (const [name, type] of types) {
      // prom-client's default process and runtime metrics are the library's to name
      if (/^(nodejs|process)_/.test(name)) continue
      assert.match(name, /^[a-z][a-z0-9_]*$/, name)
      if (type === 'counter') assert.match(name, /_total$/, `${name} is a counter`)
      else assert.doesNotMatch(name, /_total$/, `${name} is a ${type}, not a counter`)
      assert.doesNotMatch(
        name,
        /_(ms|milliseconds|millis|secs|minutes|hours)(_|$)/,
        `${name}: use base units`,
      )
      if (type === 'histogram' && /duration|latency|end_to_end/.test(name))
        assert.match(name, /_seconds$/, name)
    }
  })

  test('every metric the Grafana dashboard queries is one the service exposes, with the labels it names', () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana/dashboards/ticketing.json', 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[]
    }
    const reads = dashboard.panels.flatMap((p) =>
      p.targets.map((x) => seriesRead(x.expr, `panel "${p.title}"`, t.app.metrics.registry)),
    )
    assert.ok(reads.length >= 8)
    // each query's series were found (a parse that found none would pass anything)
    assert.ok(reads.every((r) => r.metrics.length > 0))
    assert.deepEqual(
      reads.flatMap((r) => r.problems),
      [],
    )
    // and the routes its panels select are routes the service serves
    const routes = dashboard.panels.flatMap((p) => p.targets.flatMap((x) => routesSelected(x.expr)))
    assert.ok(routes.length >= 2)
    assert.deepEqual(
      routes.filter((url) => !servedRoutes(t.app.http).has(url)),
      [],
    )
  })
})
