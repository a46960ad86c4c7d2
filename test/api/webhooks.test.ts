import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { adminHeaders, assertError } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// A public address literal: registration needs no DNS for it, and nothing is ever sent to it (no worker runs here).
const PUBLIC_URL = 'https://93.184.215.14/hooks/tickets'

for (const kind of databaseKinds) {
  describe(`organizer webhooks API [${kind}]`, () => {
    let t: TestApp
    let api: Api
    let admin: Record<string, string>
    before(async () => {
      t = await startTestApp(kind, 'webhooks_api')
      api = new Api(t.url)
      admin = adminHeaders(t.adminKey)
    })
    after(() => t.close())

    const register = (body: unknown, headers = admin) =>
      api.post('/admin/webhooks/endpoints', { headers, body })

    test('register shows the secret once; list and get never do; unknown ids are 404', async () => {
      const res = await register({
        url: PUBLIC_URL,
        eventTypes: ['reservation.confirmed', 'coupon.issued', 'reservation.confirmed'],
        description: 'box office',
      })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.match(res.body.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/)
      const e = res.body.endpoint
      assert.equal(e.url, PUBLIC_URL)
      assert.deepEqual(e.eventTypes, ['coupon.issued', 'reservation.confirmed'])
      assert.equal(e.enabled, true)
      assert.equal(e.disabledReason, null)
      assert.equal(e.description, 'box office')

      const listed = await api.get('/admin/webhooks/endpoints', { headers: admin })
      assert.equal(listed.status, 200)
      assert.ok(listed.body.endpoints.some((x: any) => x.id === e.id))
      assert.ok(!JSON.stringify(listed.body).includes(res.body.secret), 'the secret is never listed')
      const one = await api.get(`/admin/webhooks/endpoints/${e.id}`, { headers: admin })
      assert.deepEqual(one.body, e)
      assert.ok(!JSON.stringify(one.body).includes('whsec_'))

      assertError(
        await api.get('/admin/webhooks/endpoints/0190f0a0-0000-7000-8000-000000000000', { headers: admin }),
        404,
        'WEBHOOK_ENDPOINT_NOT_FOUND',
      )
      assertError(
        await register({ url: PUBLIC_URL, eventTypes: ['coupon.issued'] }, {}),
        401,
        'ADMIN_KEY_INVALID',
      )
    })

    test('only business event types can be subscribed to', async () => {
      const types = await api.get('/admin/webhooks/event-types', { headers: admin })
      assert.equal(types.status, 200)
      for (const t of ['reservation.held', 'reservation.confirmed', 'coupon.issued', 'queue.admitted']) {
        assert.ok(types.body.eventTypes.includes(t), t)
      }
      for (const t of [
        'notification.requested',
        'phone.verification-requested',
        'queue.entered',
        'coupon.issue-requested',
      ]) {
        assert.ok(!types.body.eventTypes.includes(t), t)
        assertError(await register({ url: PUBLIC_URL, eventTypes: [t] }), 400, 'VALIDATION_FAILED')
      }
      assertError(await register({ url: PUBLIC_URL, eventTypes: ['made.up'] }), 400, 'VALIDATION_FAILED')
      assertError(await register({ url: PUBLIC_URL, eventTypes: [] }), 400, 'VALIDATION_FAILED')
      assertError(
        await register({ url: 'not a url', eventTypes: ['coupon.issued'] }),
        400,
        'VALIDATION_FAILED',
      )
    })

    test('SSRF: http, loopback, private, CGNAT, link-local, metadata and names resolving to them are refused', async () => {
      for (const url of [
        'http://93.184.215.14/hook',
        'https://127.0.0.1/hook',
        'https://127.1.2.3:8443/hook',
        'https://10.0.0.8/hook',
        'https://172.20.1.1/hook',
        'https://192.168.0.10/hook',
        'https://100.100.100.200/latest/meta-data',
        'https://169.254.169.254/latest/meta-data',
        'https://[::1]/hook',
        'https://[fd00:ec2::254]/hook',
        'https://[::ffff:127.0.0.1]/hook',
        'https://localhost/hook',
        'https://user:pass@93.184.215.14/hook',
      ]) {
        const res = await register({ url, eventTypes: ['coupon.issued'] })
        assertError(res, 400, 'WEBHOOK_URL_NOT_ALLOWED')
        assert.equal(res.body.details.field, 'url', url)
      }
      assertError(
        await register({ url: 'https://no-such-host.invalid/hook', eventTypes: ['coupon.issued'] }),
        400,
        'WEBHOOK_HOST_UNRESOLVABLE',
      )
    })

    test('update event types, URL and description; disable and enable; a private URL is refused on update too', async () => {
      const { body } = await register({ url: PUBLIC_URL, eventTypes: ['coupon.issued'] })
      const id = body.endpoint.id
      const patch = (b: unknown) =>
        api.request('PATCH', `/admin/webhooks/endpoints/${id}`, { headers: admin, body: b })

      const changed = await patch({
        eventTypes: ['reservation.held', 'reservation.expired'],
        description: 'ops',
      })
      assert.equal(changed.status, 200, JSON.stringify(changed.body))
      assert.deepEqual(changed.body.eventTypes, ['reservation.expired', 'reservation.held'])
      assert.equal(changed.body.description, 'ops')

      const off = await patch({ enabled: false })
      assert.equal(off.body.enabled, false)
      assert.equal(off.body.disabledReason, 'organizer')
      assert.ok(off.body.disabledAt)
      const on = await patch({ enabled: true })
      assert.equal(on.body.enabled, true)
      assert.equal(on.body.disabledReason, null)
      assert.equal(on.body.disabledAt, null)

      assertError(await patch({ url: 'https://192.168.1.1/x' }), 400, 'WEBHOOK_URL_NOT_ALLOWED')
      assertError(await patch({}), 400, 'VALIDATION_FAILED')
      assertError(await patch({ eventTypes: ['notification.requested'] }), 400, 'VALIDATION_FAILED')
      const moved = await patch({ url: 'https://93.184.215.15/v2/hook' })
      assert.equal(moved.body.url, 'https://93.184.215.15/v2/hook')
    })

    test('rotating gives a new secret once; the old one is kept for the grace period', async () => {
      const { body } = await register({ url: PUBLIC_URL, eventTypes: ['coupon.issued'] })
      const id = body.endpoint.id
      const before = Date.now()
      const rotated = await api.post(`/admin/webhooks/endpoints/${id}/secret/rotate`, { headers: admin })
      assert.equal(rotated.status, 200)
      assert.match(rotated.body.secret, /^whsec_/)
      assert.notEqual(rotated.body.secret, body.secret)
      const expires = Date.parse(rotated.body.previousSecretExpiresAt)
      const grace = t.app.config.WEBHOOK_SECRET_GRACE_SECONDS * 1000
      assert.ok(Math.abs(expires - before - grace) < 60_000, 'expires one grace period from now')
      const one = await api.get(`/admin/webhooks/endpoints/${id}`, { headers: admin })
      assert.equal(one.body.previousSecretExpiresAt, rotated.body.previousSecretExpiresAt)
      assertError(
        await api.post('/admin/webhooks/endpoints/0190f0a0-0000-7000-8000-000000000000/secret/rotate', {
          headers: admin,
        }),
        404,
        'WEBHOOK_ENDPOINT_NOT_FOUND',
      )
    })

    test('delivery log, redelivery, notices and delete answer with catalog codes', async () => {
      const { body } = await register({ url: PUBLIC_URL, eventTypes: ['coupon.issued'] })
      const id = body.endpoint.id
      const log = await api.get(`/admin/webhooks/endpoints/${id}/deliveries?status=failed`, {
        headers: admin,
      })
      assert.equal(log.status, 200)
      assert.deepEqual(log.body.deliveries, [])
      const missing = '0190f0a0-0000-7000-8000-000000000000'
      assertError(
        await api.post(`/admin/webhooks/endpoints/${id}/deliveries/${missing}/redeliver`, { headers: admin }),
        404,
        'WEBHOOK_DELIVERY_NOT_FOUND',
      )
      assertError(
        await api.get(`/admin/webhooks/endpoints/${id}/deliveries/${missing}`, { headers: admin }),
        404,
        'WEBHOOK_DELIVERY_NOT_FOUND',
      )
      assertError(
        await api.get(`/admin/webhooks/endpoints/${id}/deliveries?status=lost`, { headers: admin }),
        400,
        'VALIDATION_FAILED',
      )
      const notices = await api.get('/admin/webhooks/notices', { headers: admin })
      assert.equal(notices.status, 200)
      assert.ok(Array.isArray(notices.body.notices))
      assertError(
        await api.post(`/admin/webhooks/notices/${missing}/acknowledge`, { headers: admin }),
        404,
        'WEBHOOK_NOTICE_NOT_FOUND',
      )
      assert.equal((await api.delete(`/admin/webhooks/endpoints/${id}`, { headers: admin })).status, 204)
      assertError(
        await api.delete(`/admin/webhooks/endpoints/${id}`, { headers: admin }),
        404,
        'WEBHOOK_ENDPOINT_NOT_FOUND',
      )
    })
  })
}

describe('organizer webhooks API with WEBHOOKS_ALLOW_PRIVATE=true [pglite]', () => {
  let t: TestApp
  before(async () => {
    t = await startTestApp('pglite', 'webhooks_private', { WEBHOOKS_ALLOW_PRIVATE: 'true' })
  })
  after(() => t.close())

  test('http and loopback URLs are accepted (the side-effect tests use them)', async () => {
    const res = await new Api(t.url).post('/admin/webhooks/endpoints', {
      headers: adminHeaders(t.adminKey),
      body: { url: 'http://127.0.0.1:9/hook', eventTypes: ['coupon.issued'] },
    })
    assert.equal(res.status, 201, JSON.stringify(res.body))
  })
})
