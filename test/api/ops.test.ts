import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`ops endpoints [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'ops')
      api = new Api(t.url)
    })
    after(() => t.close())

    test('consoles refreshing together and Prometheus share one lag reading a second', async () => {
      // Counts the real transport's lag reads (the ops series may take one too: it shares the same reading).
      const transport = t.app.events.transport
      const lag = transport.lag.bind(transport)
      let reads = 0
      transport.lag = (subscriptions) => {
        reads++
        return lag(subscriptions)
      }
      try {
        const headers = { headers: { 'x-admin-key': t.adminKey } }
        await new Promise((resolve) => setTimeout(resolve, 1_100)) // no earlier reading left
        const before = reads
        const [burst, scrapes] = await Promise.all([
          Promise.all(Array.from({ length: 10 }, () => api.get('/admin/ops/summary', headers))),
          Promise.all(Array.from({ length: 3 }, () => api.get('/metrics'))),
        ])
        assert.ok(burst.every((r) => r.status === 200))
        // Prometheus' scrapes share the reading too, and show the lag of every group the summary shows.
        for (const scrape of scrapes) {
          assert.match(String(scrape.body), /^consumer_lag_unknown 0$/m)
          const groups = new Set(
            [...String(scrape.body).matchAll(/^consumer_lag\{group="([^"]+)"/gm)].map((m) => m[1]),
          )
          assert.deepEqual(groups, new Set(burst[0]!.body.lag.map((l: { group: string }) => l.group)))
        }
        assert.equal(new Set(burst.map((r) => r.body.lagReadAt)).size, 1, 'one reading answered all ten')
        assert.ok(reads - before <= 1, `${reads - before} lag reads for ten summaries and three scrapes`)
        assert.ok(Array.isArray(burst[0]!.body.lag))
        await new Promise((resolve) => setTimeout(resolve, 1_100))
        const later = await api.get('/admin/ops/summary', headers)
        assert.ok(
          Date.parse(later.body.lagReadAt) > Date.parse(burst[0]!.body.lagReadAt),
          'a second on, read again',
        )
        assert.ok(reads > before, 'the transport was read')
      } finally {
        transport.lag = lag
      }
    })

    test('/health answers 200', async () => {
      const res = await api.get('/health')
      assert.equal(res.status, 200)
      assert.deepEqual(res.body, { status: 'ok' })
    })

    test('/ready answers 200 when the database answers', async () => {
      const res = await api.get('/ready')
      assert.equal(res.status, 200)
      assert.deepEqual(res.body, { status: 'ready' })
    })

    test('/metrics is Prometheus text with request durations by route and status', async () => {
      await api.get('/concerts')
      const res = await api.get('/metrics')
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
      const text = res.body as string
      assert.match(text, /# TYPE http_request_duration_seconds histogram/)
      assert.match(
        text,
        /http_request_duration_seconds_count\{[^}]*route="\/concerts"[^}]*status="200"[^}]*\} [1-9]/,
      )
      assert.match(text, /process_cpu_user_seconds_total/)
    })

    test('/metrics counts every answer once under its route, a parameterized one by its pattern, and the rest as unmatched', async () => {
      const count = async (route: string, status: number) => {
        const text = (await api.get('/metrics')).body as string
        const line = text
          .split('\n')
          .find(
            (l) =>
              l.startsWith('http_request_duration_seconds_count{') &&
              l.includes(`route="${route}"`) &&
              l.includes(`status="${status}"`),
          )
        return line ? Number(line.split(' ').at(-1)) : 0
      }
      const seats = '/schedules/:scheduleId/seats'
      const before = {
        unknown: await count('unmatched', 404),
        badId: await count(seats, 400),
        noSchedule: await count(seats, 404),
      }
      assert.equal((await api.get('/no/such/route')).status, 404)
      assert.equal((await api.get('/no/such/route')).status, 404)
      assert.equal((await api.get('/schedules/not-a-uuid/seats')).status, 400)
      assert.equal((await api.get('/schedules/0193c3a4-0000-7000-8000-000000000000/seats')).status, 404)
      assert.equal(await count('unmatched', 404), before.unknown + 2)
      assert.equal(await count(seats, 400), before.badId + 1)
      assert.equal(await count(seats, 404), before.noSchedule + 1)
    })

    test('/docs serves the HTML UI', async () => {
      const res = await api.get('/docs')
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /text\/html/)
      assert.match(String(res.body), /<html/i)
    })

    test('/docs/json is OpenAPI 3.1 listing the main paths and security schemes', async () => {
      const res = await api.get('/docs/json')
      assert.equal(res.status, 200)
      assert.equal(res.body.openapi, '3.1.0')
      assert.equal(res.body.info.title, 'Flash-sale ticketing API')
      const paths = Object.keys(res.body.paths)
      for (const path of [
        '/auth/sign-up',
        '/auth/sign-in',
        '/users/{userId}/wallet',
        '/users/{userId}/wallet/charges',
        '/users/{userId}/wallet/ledger',
        '/concerts',
        '/concerts/{concertId}',
        '/schedules/{scheduleId}',
        '/schedules/{scheduleId}/seats',
        '/schedules/{scheduleId}/queue',
        '/schedules/{scheduleId}/queue/me',
        '/schedules/{scheduleId}/seats/{seatId}/hold',
        '/reservations/{reservationId}',
        '/reservations/{reservationId}/payment',
        '/admin/concerts',
        '/admin/coupons',
        '/admin/coupons/{couponId}/grants',
        '/users/{userId}/coupons',
        '/rankings/schedules/{scheduleId}',
        '/rankings/concerts',
      ]) {
        assert.ok(paths.includes(path), `missing ${path}`)
      }
      assert.equal(paths.includes('/metrics'), false, '/metrics is hidden')
      assert.deepEqual(Object.keys(res.body.components.securitySchemes).sort(), [
        'adminKey',
        'bearer',
        'queueToken',
      ])
      const hold = res.body.paths['/schedules/{scheduleId}/seats/{seatId}/hold'].post
      assert.deepEqual(hold.security, [{ bearer: [], queueToken: [] }])
    })
  })
}
