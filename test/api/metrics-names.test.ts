import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { checkQueries } from '../support/promql.ts'
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

  test('every metric the Grafana dashboard queries is one the service exposes, with the labels and routes it names', () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana/dashboards/ticketing.json', 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[]
    }
    const checked = checkQueries(
      dashboard.panels.flatMap((p) => p.targets.map((x) => ({ where: `panel "${p.title}"`, expr: x.expr }))),
      t.app,
    )
    assert.ok(checked.metrics.length >= 8)
    assert.deepEqual(checked.problems, [])
    assert.ok(checked.metrics.every((m) => m.length > 0))
    assert.ok(checked.routes.length >= 2)
  })
})
