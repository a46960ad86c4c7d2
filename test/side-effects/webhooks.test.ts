// Organizer webhooks end to end: payments on the real service, the fan-out groups on the transport, the delivery
// worker calling real loopback endpoints that succeed, fail for a while, answer 410, stay down, or hang past the
// timeout. Each delivery is checked with the Standard Webhooks reference library. Runs on both transports.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Webhook } from 'standardwebhooks'
import { sendWebhook } from '../../src/webhooks/webhook-sender.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import { adminHeaders, buy, createSchedule, holdSeat } from '../support/flows.ts'
import { quiesce, type SideEffectApp, startApp, targets, waitFor } from './support/harness.ts'
import { type ReceivedRequest, Receiver } from './support/receiver.ts'

const FANS = 4

async function registerEndpoint(app: SideEffectApp, url: string, eventTypes: string[]) {
  const res = await app.api.post('/admin/webhooks/endpoints', {
    headers: adminHeaders(app.adminKey),
    body: { url, eventTypes },
  })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  return { id: res.body.endpoint.id as string, secret: res.body.secret as string }
}

const endpointOf = async (app: SideEffectApp, id: string) =>
  (await app.api.get(`/admin/webhooks/endpoints/${id}`, { headers: adminHeaders(app.adminKey) })).body

const deliveriesOf = async (app: SideEffectApp, id: string) =>
  (
    await app.api.get(`/admin/webhooks/endpoints/${id}/deliveries?limit=500`, {
      headers: adminHeaders(app.adminKey),
    })
  ).body.deliveries as any[]

/** Verifies a received request with the reference library; returns the payload. */
function verified(r: ReceivedRequest, secret: string): any {
  return new Webhook(secret).verify(r.raw, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  })
}

for (const target of targets()) {
  describe(`organizer webhooks on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test('signed deliveries once per event; retries through 5xx; 410 and a long outage disable the endpoint and tell the organizer; a slow endpoint holds few slots; redelivery and rotation', async (t) => {
      const good = await Receiver.start()
      const flaky = await Receiver.start()
      const gone = await Receiver.start({ respond: () => ({ status: 410, body: { error: 'gone' } }) })
      const down = await Receiver.start()
      const slow = await Receiver.start({ slowMs: 300 })
      t.after(() => Promise.all([good, flaky, gone, down, slow].map((r) => r.close())))
      await flaky.setMode('5xx')
      await down.setMode('down')
      await slow.setMode('slow')

      const app = await startApp(target, 'webhooks', {
        WEBHOOKS_ALLOW_PRIVATE: 'true',
        WEBHOOK_POLL_MS: 100,
        WEBHOOK_TIMEOUT_MS: 4000,
        WEBHOOK_RETRY_BASE_MS: 200,
        WEBHOOK_RETRY_MAX_DELAY_MS: 800,
        WEBHOOK_RETRY_FOR_SECONDS: 30,
        WEBHOOK_DISABLE_AFTER_SECONDS: 4,
        WEBHOOK_ENDPOINT_CONCURRENCY: 2,
        WEBHOOK_SECRET_GRACE_SECONDS: 600,
        HOLD_TTL_SECONDS: 600,
      })
      t.after(() => app.close())

      const a = await registerEndpoint(app, good.url('/hooks/a'), [
        'reservation.held',
        'reservation.confirmed',
        'webhook.endpoint-disabled',
      ])
      const b = await registerEndpoint(app, flaky.url('/hooks/b'), ['reservation.confirmed'])
      const c = await registerEndpoint(app, gone.url('/hooks/c'), ['reservation.confirmed'])
      const d = await registerEndpoint(app, down.url('/hooks/d'), ['reservation.confirmed'])
      const e = await registerEndpoint(app, slow.url('/hooks/e'), ['reservation.held'])

      const show = await createSchedule(app.api, app.adminKey, { seats: FANS + 1 })
      const fans = await seedAdmittedFans(app.db, {
        count: FANS + 1,
        points: 1_000_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      const bought = new Set<string>()
      for (const [i, fan] of fans.slice(0, FANS).entries()) {
        bought.add((await buy(app.api, fan, show.scheduleId, show.seatIds[i]!)).reservationId)
      }
      // One more hold, never paid: A gets its reservation.held only.
      const extra = fans[FANS]!
      const held = await holdSeat(app.api, extra, show.scheduleId, show.seatIds[FANS]!, extra.queueToken)
      assert.equal(held.status, 201)

      // A: every event once, signed, as {type, timestamp, data}; webhook-id is the event id. On a shared Kafka
      // cluster other apps' events can reach this app's groups too: only this test's entities count.
      const reservations = new Set([...bought, held.body.id])
      const ours = (r: ReceivedRequest) =>
        reservations.has(r.body?.data?.reservationId) || [c.id, d.id].includes(r.body?.data?.endpointId)
      // B comes back once it has refused one of these deliveries, however long the events take to reach it (a
      // fixed 1.5 s was over before the first delivery on a cluster just started, and then nothing needed a retry).
      const flakyBack = waitFor(
        'B refused a delivery while down',
        () => flaky.requestsWhere((r) => r.mode === '5xx' && ours(r)).length > 0,
        { timeoutMs: 60_000 },
      ).then(() => flaky.setMode('ok'))
      // Awaited before B's checks below; a failure before them should not also surface as an unhandled rejection.
      flakyBack.catch(() => {})
      const aPayloads = await waitFor(
        'A received every reservation event and the two endpoint-disabled events',
        () => {
          const mine = good.requests.filter(ours)
          const ids = new Set(mine.map((r) => r.headers['webhook-id']))
          return ids.size === FANS * 2 + 1 + 2 && mine
        },
        {
          timeoutMs: 60_000,
          describe: () => good.requests.map((r) => [r.body?.type, r.body?.data?.reason, ours(r)]),
        },
      )
      const byType = new Map<string, any[]>()
      for (const r of aPayloads) {
        assert.equal(r.path, '/hooks/a')
        assert.equal(r.headers['content-type'], 'application/json')
        const payload = verified(r, a.secret)
        assert.deepEqual(Object.keys(payload).sort(), ['data', 'timestamp', 'type'])
        byType.set(payload.type, [...(byType.get(payload.type) ?? []), payload])
      }
      assert.equal(aPayloads.length, FANS * 2 + 3, 'no duplicates for a healthy endpoint')
      assert.deepEqual(
        new Set(byType.get('reservation.confirmed')!.map((p) => p.data.reservationId)),
        bought,
        'one reservation.confirmed per payment',
      )
      assert.equal(byType.get('reservation.held')!.length, FANS + 1)
      const disabledEvents = byType.get('webhook.endpoint-disabled')!
      assert.deepEqual(
        disabledEvents.map((p) => [p.data.endpointId, p.data.reason]).sort(),
        [
          [c.id, 'gone'],
          [d.id, 'failing'],
        ].sort(),
      )
      const failing = disabledEvents.find((p) => p.data.reason === 'failing')!
      assert.ok(Date.parse(failing.data.disabledAt) - Date.parse(failing.data.failingSince) >= 4000)
      const eventIds = new Map((await deliveriesOf(app, a.id)).map((x) => [x.eventId, x]))
      for (const r of aPayloads)
        assert.ok(eventIds.has(String(r.headers['webhook-id'])), 'webhook-id is the event id')

      // B: failed with 503 while it was down, then got every confirmation once it came back.
      await flakyBack
      const bLog = await waitFor('B delivered everything', async () => {
        const log = await deliveriesOf(app, b.id)
        return log.length === FANS && log.every((x) => x.status === 'succeeded') && log
      })
      assert.equal(flaky.recordsWhere(ours).length, FANS)
      assert.ok(
        bLog.some((x) => x.attempts > 1),
        'some deliveries needed retries',
      )
      const retried = bLog.find((x) => x.attempts > 1)!
      const detail = await app.api.get(`/admin/webhooks/endpoints/${b.id}/deliveries/${retried.id}`, {
        headers: adminHeaders(app.adminKey),
      })
      assert.equal(detail.status, 200)
      assert.equal(detail.body.attemptLog.length, retried.attempts)
      assert.equal(detail.body.attemptLog[0].statusCode, 503)
      assert.equal(detail.body.attemptLog.at(-1).statusCode, 200)
      assert.equal(detail.body.lastStatusCode, 200)
      assert.equal(JSON.parse(detail.body.payload).type, 'reservation.confirmed')

      // C: answered 410 and was disabled at once; nothing was sent after that answer but what was already in
      // flight (two at a time per endpoint here).
      const cEndpoint = await endpointOf(app, c.id)
      assert.equal(cEndpoint.enabled, false)
      assert.equal(cEndpoint.disabledReason, 'gone')
      const toGone = gone.requests.filter(ours).length
      assert.ok(toGone >= 1 && toGone <= 2, `nothing is sent after the 410 (${toGone} requests)`)
      const cLog = await deliveriesOf(app, c.id)
      assert.equal(cLog.filter((x) => x.status === 'failed' && x.lastStatusCode === 410).length, toGone)

      // D: refused every connection for the disable window, then disabled; its deliveries wait.
      const dEndpoint = await endpointOf(app, d.id)
      assert.equal(dEndpoint.enabled, false)
      assert.equal(dEndpoint.disabledReason, 'failing')
      assert.ok(dEndpoint.failingSince)
      const dLog = await deliveriesOf(app, d.id)
      assert.equal(dLog.length, FANS)
      assert.ok(dLog.every((x) => x.status === 'pending' && x.lastStatusCode === null && x.lastError))

      // The console's notices say what happened to C and D.
      const notices = await app.api.get('/admin/webhooks/notices', { headers: adminHeaders(app.adminKey) })
      assert.deepEqual(
        notices.body.notices.map((n: any) => [n.endpointId, n.kind]).sort(),
        [
          [c.id, 'endpoint-disabled-gone'],
          [d.id, 'endpoint-disabled-failing'],
        ].sort(),
      )
      const notice = notices.body.notices[0]
      assert.equal(
        (
          await app.api.post(`/admin/webhooks/notices/${notice.id}/acknowledge`, {
            headers: adminHeaders(app.adminKey),
          })
        ).status,
        204,
      )
      const open = await app.api.get('/admin/webhooks/notices', { headers: adminHeaders(app.adminKey) })
      assert.equal(open.body.notices.length, 1)

      // E: answers slowly, but never holds more than its two slots; A was served meanwhile (above).
      const eLog = await waitFor('E got every hold', async () => {
        const log = await deliveriesOf(app, e.id)
        return log.length === FANS + 1 && log.every((x) => x.status === 'succeeded') && log
      })
      assert.ok(slow.maxInFlight <= 2, `slow endpoint had ${slow.maxInFlight} requests at once`)
      assert.ok(slow.maxInFlight >= 1)
      assert.ok(eLog.every((x) => x.lastDurationMs >= 300))

      // D comes back and is enabled again: its waiting deliveries go out.
      await down.setMode('ok')
      const enabled = await app.api.request('PATCH', `/admin/webhooks/endpoints/${d.id}`, {
        headers: adminHeaders(app.adminKey),
        body: { enabled: true },
      })
      assert.equal(enabled.body.enabled, true)
      assert.equal(enabled.body.failingSince, null)
      await waitFor(
        'D caught up after being enabled',
        () => new Set(down.recordsWhere(ours).map((r) => r.headers['webhook-id'])).size === FANS,
      )
      for (const r of down.requests) verified(r, d.secret)

      // Manual redelivery, after a rotation: same webhook-id and payload, signed with both secrets.
      const rotated = await app.api.post(`/admin/webhooks/endpoints/${a.id}/secret/rotate`, {
        headers: adminHeaders(app.adminKey),
      })
      assert.equal(rotated.status, 200)
      const first = (await deliveriesOf(app, a.id)).find((x) => x.eventType === 'reservation.confirmed')!
      const before = good.requests.filter(ours).length
      const again = await app.api.post(`/admin/webhooks/endpoints/${a.id}/deliveries/${first.id}/redeliver`, {
        headers: adminHeaders(app.adminKey),
      })
      assert.equal(again.status, 202)
      const resent = await waitFor('the redelivery arrived', () => {
        const mine = good.requests.filter(ours)
        return mine.length > before && mine.at(-1)
      })
      assert.equal(resent.headers['webhook-id'], first.eventId)
      assert.equal(String(resent.headers['webhook-signature']).split(' ').length, 2, 'both secrets sign')
      assert.deepEqual(verified(resent, rotated.body.secret), verified(resent, a.secret))
      // The worker records the attempt once the answer is in, just after the receiver saw the request.
      const log = await waitFor('the redelivery recorded', async () => {
        const res = await app.api.get(`/admin/webhooks/endpoints/${a.id}/deliveries/${first.id}`, {
          headers: adminHeaders(app.adminKey),
        })
        return res.body.attempts === 2 && res.body
      })
      assert.equal(log.status, 'succeeded')
      assert.deepEqual(
        log.attemptLog.map((x: any) => x.statusCode),
        [200, 200],
      )

      await quiesce(app)
    })
  })
}

describe('webhook sends are checked at send time', () => {
  test('a host that now resolves to loopback is refused before any connection (DNS can change after registration)', async (t) => {
    const receiver = await Receiver.start()
    t.after(() => receiver.close())
    const port = new URL(receiver.url()).port
    const result = await sendWebhook(
      `https://localhost:${port}/hook`,
      '{}',
      {},
      {
        timeoutMs: 1000,
        policy: { allowPrivate: false },
        signal: new AbortController().signal,
      },
    )
    assert.equal(result.status, null)
    assert.equal(result.refused, true)
    assert.match(result.error ?? '', /not a public address/)
    const literal = await sendWebhook(
      `http://127.0.0.1:${port}/hook`,
      '{}',
      {},
      {
        timeoutMs: 1000,
        policy: { allowPrivate: false },
        signal: new AbortController().signal,
      },
    )
    assert.equal(literal.refused, true)
    await sleep(50)
    assert.equal(receiver.requests.length, 0, 'nothing reached the server')
  })

  test('an endpoint that hangs is cut off at the timeout', async (t) => {
    const receiver = await Receiver.start({ slowMs: 5000 })
    t.after(() => receiver.close())
    await receiver.setMode('slow')
    const result = await sendWebhook(
      receiver.url('/hook'),
      '{}',
      {},
      {
        timeoutMs: 200,
        policy: { allowPrivate: true },
        signal: new AbortController().signal,
      },
    )
    assert.equal(result.status, null)
    assert.match(result.error ?? '', /timed out after 200 ms/)
    assert.equal(result.refused, false)
  })
})
