import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse, stringify } from 'yaml'
import { insertDeadLetter } from '../support/flows.ts'
import { checkQueries, seriesRead } from '../support/promql.ts'
import { noPromtool, PROMETHEUS, promtool } from '../support/promtool.ts'
import { unusedPort } from '../support/sockets.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const PROMETHEUS_CONFIG = join(ROOT, 'deploy', 'prometheus')

describe('the on-call alerts, checked by Prometheus', { skip: noPromtool }, () => {
  test('the configuration and its rules load, and every alert fires on its readings and stays quiet beside them', async () => {
    const config = await promtool(['check', 'config', 'prometheus.yml'], PROMETHEUS_CONFIG)
    assert.equal(config.code, 0, config.output)
    assert.match(config.output, /SUCCESS: 13 rules found/)
    // alerts.test.yml: Prometheus' own evaluator over synthetic series, with each alert's labels and rendered text
    const unit = await promtool(['test', 'rules', 'alerts.test.yml'], PROMETHEUS_CONFIG)
    assert.equal(unit.code, 0, unit.output)
  })

  test('every alert has a test that sees it fire', async () => {
    const rules = (await alertRules()).map((r) => r.alert)
    const tests = parse(await readFile(join(PROMETHEUS_CONFIG, 'alerts.test.yml'), 'utf8')) as {
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

  test('each metric an alert reads is registered, with the labels and routes the alert names', async () => {
    const checked = checkQueries(
      (await alertRules()).map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
      t.app,
    )
    assert.deepEqual(checked.problems, [])
    assert.ok(checked.metrics.every((m) => m.length > 0))
    assert.equal(new Set(checked.metrics.flat()).size, 14)
    assert.ok(checked.routes.length >= 2)
  })

  test('the check finds a renamed metric, a label the metric does not have and a route the service does not serve', () => {
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
    // a renamed route parameter is another route (Fastify's hasRoute would take it)
    assert.deepEqual(
      checkQueries(
        [
          {
            where: 'x',
            expr: 'rate(http_request_duration_seconds_count{route="/schedules/:scheduleId/seats/:seat/hold"}[1m])',
          },
        ],
        t.app,
      ).problems,
      ['x selects the route /schedules/:scheduleId/seats/:seat/hold, which the service does not serve'],
    )
  })
})

describe('a real Prometheus server scraping the service with the rules', { skip: noPromtool }, () => {
  let t: TestApp | undefined
  let server: ChildProcess | undefined
  let dir: string | undefined
  after(async () => {
    server?.kill('SIGKILL')
    await t?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('every rule evaluates without error on real readings, none is active on a healthy service, and real dead letters and a stopped instance make theirs active', async () => {
    t = await startTestApp('pglite', 'alerts_live', { OPS_SAMPLE_MS: 200 }, { background: true })
    const target = new URL(t.url).host
    dir = await mkdtemp(join(tmpdir(), 'prometheus-'))
    // The shipped rules, evaluated every second over a scrape every second of this service as job "ticketing".
    await writeFile(
      join(dir, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(PROMETHEUS_CONFIG, 'alerts.yml')],
        scrape_configs: [{ job_name: 'ticketing', static_configs: [{ targets: [target] }] }],
      }),
    )
    const port = await unusedPort()
    const api = `http://127.0.0.1:${port}/api/v1`
    let log = ''
    server = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    server.stderr!.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-10_000)
    })
    const get = async (path: string) => ((await (await fetch(`${api}${path}`)).json()) as { data: any }).data
    const rules = () =>
      get('/rules').then(
        (d: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] }) =>
          d.groups.flatMap((g) => g.rules),
      )
    const active = () =>
      get('/alerts').then(
        (d: { alerts: { labels: Record<string, string>; state: string; value: string }[] }) => d.alerts,
      )

    // scraped, and every rule evaluated at least once since
    await waitFor(
      'the service scraped as job ticketing',
      async () => {
        const up = await get(`/query?query=${encodeURIComponent('up{job="ticketing"}')}`)
        return up.result.length === 1 && up.result[0].value[1] === '1'
      },
      { timeoutMs: 60_000, describe: () => log },
    )
    const evaluated = await waitFor(
      'every rule evaluated',
      async () => {
        const all = await rules()
        return all.length === 13 && all.every((r) => r.health !== 'unknown') && all
      },
      { describe: () => log },
    )
    assert.deepEqual(
      evaluated.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`),
      [],
    )
    // the healthy service's own readings raise nothing (a rule that read a gauge's meaning wrong would be active)
    await sleep(3000)
    assert.deepEqual(await active(), [])

    // a dead letter: the ops series counts it, Prometheus scrapes it, the rule's condition holds (pending: `for: 1m`)
    await insertDeadLetter(t.app.database.db, {
      groupId: 'data-platform',
      topic: 'reservation.confirmed',
      key: randomUUID(),
      error: 'partner answered 422',
      value: { data: {} },
    })
    const deadLetters = await waitFor('the dead-letter alert active', async () =>
      (await active()).find((a) => a.labels.alertname === 'DeadLetters'),
    )
    assert.equal(deadLetters.state, 'pending')
    assert.equal(Number(deadLetters.value), 1)
    assert.equal(deadLetters.labels.severity, 'warning')

    // the instance stops answering: its `up` falls to 0 and the instance-down rule names it
    await t.close()
    t = undefined
    const down = await waitFor('the instance-down alert active', async () =>
      (await active()).find((a) => a.labels.alertname === 'TicketingInstanceDown'),
    )
    assert.equal(down.labels.instance, target)
    assert.equal(down.labels.job, 'ticketing')
  })
})

async function alertRules(): Promise<{ alert: string; expr: string }[]> {
  const file = parse(await readFile(join(PROMETHEUS_CONFIG, 'alerts.yml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[]
  }
  return file.groups.flatMap((g) => g.rules)
}
