import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parse } from 'yaml'
import { seriesRead } from '../support/promql.ts'
import { noPromtool, promtool } from '../support/promtool.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const PROMETHEUS = join(ROOT, 'deploy', 'prometheus')

describe('the on-call alerts, checked by Prometheus', { skip: noPromtool }, () => {
  test('the configuration and its rules load, and every alert fires on its readings and stays quiet beside them', async () => {
    const config = await promtool(['check', 'config', 'prometheus.yml'], PROMETHEUS)
    assert.equal(config.code, 0, config.output)
    assert.match(config.output, /SUCCESS: 12 rules found/)
    // alerts.test.yml: Prometheus' own evaluator over synthetic series, with each alert's labels and rendered text
    const unit = await promtool(['test', 'rules', 'alerts.test.yml'], PROMETHEUS)
    assert.equal(unit.code, 0, unit.output)
  })

  test('every alert has a test that sees it fire', async () => {
    const rules = (await alertRules()).map((r) => r.alert)
    const tests = parse(await readFile(join(PROMETHEUS, 'alerts.test.yml'), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[]
    }
    const fired = new Set(
      tests.tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    )
    assert.deepEqual(
      rules.filter((name) => !fired.has(name)),
      [],
    )
  })
})

describe('what the alerts read is what the service exports', () => {
  let t: TestApp
  before(async () => {
    // every role: the relay's, the workers' and the ops series' metrics are registered as they are in production
    t = await startTestApp('pglite', 'alerts', {}, { background: true })
  })
  after(() => t.close())

  test('each metric an alert reads is registered, with the labels the alert names', async () => {
    const reads = (await alertRules()).map((r) =>
      seriesRead(r.expr, `alert ${r.alert}`, t.app.metrics.registry),
    )
    assert.deepEqual(
      reads.flatMap((r) => r.problems),
      [],
    )
    // the check read each alert's series (a parse that found none would pass anything)
    assert.ok(reads.every((r) => r.metrics.length > 0))
    assert.equal(new Set(reads.flatMap((r) => r.metrics)).size, 13)
  })

  test('the check finds a renamed metric and a label the metric does not have', () => {
    const registry = t.app.metrics.registry
    assert.deepEqual(seriesRead('max(outbox_oldest_age)', 'x', registry).problems, [
      'x reads outbox_oldest_age, which the service does not export',
    ])
    assert.deepEqual(seriesRead('sum by (route) (rate(events_retried_total[5m]))', 'x', registry).problems, [
      'x names the label route, which none of events_retried_total has',
    ])
    assert.deepEqual(
      seriesRead('rate(http_request_duration_seconds_count{code="500"}[5m])', 'x', registry).problems,
      ['x names the label code, which none of http_request_duration_seconds_count has'],
    )
    assert.deepEqual(
      seriesRead(
        'histogram_quantile(0.99, sum by (le) (rate(event_end_to_end_seconds_bucket[1m])))',
        'x',
        registry,
      ).problems,
      [],
    )
  })
})

async function alertRules(): Promise<{ alert: string; expr: string }[]> {
  const file = parse(await readFile(join(PROMETHEUS, 'alerts.yml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[]
  }
  return file.groups.flatMap((g) => g.rules)
}
