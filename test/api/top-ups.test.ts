import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { ConfigError, loadConfig } from '../../src/platform/config.ts'
import { AppError } from '../../src/platform/errors.ts'
import { createTossPayments } from '../../src/wallet/toss-payments.ts'
import { startTossPayments } from '../side-effects/support/toss-payments.ts'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { adminHeaders, assertError, balanceOf, type Fan, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

const SECRET = 'test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R'

/** Points are bought (Toss Payments confirm flow against a loopback partner) or granted; free charges are a demo. */
for (const kind of databaseKinds) {
  describe(`wallet top-ups and grants [${kind}]`, () => {
    let t: TestApp
    let api: Api
    let toss: Awaited<ReturnType<typeof startTossPayments>>
    before(async () => {
      toss = await startTossPayments({ secretKey: SECRET })
      t = await startTestApp(kind, 'top_ups', {
        DEMO_TOP_UP: 'false',
        TOSS_SECRET_KEY: SECRET,
        TOSS_API_URL: toss.url,
        TOSS_TIMEOUT_MS: 2000,
      })
      api = new Api(t.url)
    })
    after(async () => {
      await t.close()
      await toss.close()
    })

    const order = (fan: Fan, amount: number) =>
      api.post(`/users/${fan.id}/wallet/top-ups`, { token: fan.token, body: { amount } })
    const confirm = (fan: Fan, orderId: string, body: unknown) =>
      api.post(`/users/${fan.id}/wallet/top-ups/${orderId}/confirm`, { token: fan.token, body })
    const ledger = async (fan: Fan) =>
      (await api.get(`/users/${fan.id}/wallet/ledger`, { token: fan.token })).body.entries as any[]

    test('with DEMO_TOP_UP off a fan cannot charge free points: 403 DEMO_TOP_UP_DISABLED', async () => {
      const fan = await signUp(api)
      const res = await api.post(`/users/${fan.id}/wallet/charges`, {
        token: fan.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { amount: 100_000_000 },
      })
      assertError(res, 403, 'DEMO_TOP_UP_DISABLED')
      assert.equal(await balanceOf(api, fan), 0)
    })

    test('order, pay, confirm: the provider is called in its format and the wallet is credited once', async () => {
      const fan = await signUp(api)
      const created = await order(fan, 50_000)
      assert.equal(created.status, 201, JSON.stringify(created.body))
      assert.match(created.body.orderId, /^[A-Za-z0-9_-]{6,64}$/)
      assert.equal(created.body.status, 'pending')
      const { orderId } = created.body
      const paymentKey = toss.pay(orderId, 50_000)

      const res = await confirm(fan, orderId, { paymentKey, amount: 50_000 })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.balance, 50_000)
      assert.equal(res.body.topUp.status, 'paid')
      const [call] = toss.confirmCalls(orderId)
      assert.equal(call?.method, 'POST')
      assert.equal(call?.headers.authorization, `Basic ${Buffer.from(`${SECRET}:`).toString('base64')}`)
      assert.equal(call?.headers['idempotency-key'], `${orderId}:${paymentKey}`)
      assert.deepEqual(call?.body, { paymentKey, orderId, amount: 50_000 })

      const again = await confirm(fan, orderId, { paymentKey, amount: 50_000 })
      assert.equal(again.status, 200)
      assert.equal(again.body.balance, 50_000)
      assert.equal(await balanceOf(api, fan), 50_000)
      const lines = await ledger(fan)
      assert.equal(lines.length, 1)
      assert.equal(lines[0].kind, 'top-up')
      assert.equal(lines[0].amount, 50_000)
    })

    test('concurrent confirms of one order credit it once', async () => {
      const fan = await signUp(api)
      const { orderId } = (await order(fan, 7_000)).body
      const paymentKey = toss.pay(orderId, 7_000)
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => confirm(fan, orderId, { paymentKey, amount: 7_000 })),
      )
      for (const res of answers) assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(await balanceOf(api, fan), 7_000)
      assert.equal((await ledger(fan)).length, 1)
    })

    test('an amount other than the order answers 422 and never reaches the provider', async () => {
      const fan = await signUp(api)
      const { orderId } = (await order(fan, 10_000)).body
      const paymentKey = toss.pay(orderId, 100)
      const res = await confirm(fan, orderId, { paymentKey, amount: 100 })
      assertError(res, 422, 'TOP_UP_AMOUNT_MISMATCH')
      assert.equal(toss.confirmCalls(orderId).length, 0)
      assert.equal(await balanceOf(api, fan), 0)
    })

    test('a payment the provider refuses answers 402 with its code; the order can still be confirmed', async () => {
      const fan = await signUp(api)
      const { orderId } = (await order(fan, 3_000)).body
      const refused = await confirm(fan, orderId, { paymentKey: 'tgen_made_up', amount: 3_000 })
      assertError(refused, 402, 'TOP_UP_PAYMENT_REFUSED')
      assert.equal(refused.body.details.providerCode, 'NOT_FOUND_PAYMENT')
      // A payment made for another order is refused by the provider too.
      const other = toss.pay('topup_another_order', 3_000)
      const wrongOrder = await confirm(fan, orderId, { paymentKey: other, amount: 3_000 })
      assertError(wrongOrder, 402, 'TOP_UP_PAYMENT_REFUSED')
      assert.equal(await balanceOf(api, fan), 0)
      const paymentKey = toss.pay(orderId, 3_000)
      assert.equal((await confirm(fan, orderId, { paymentKey, amount: 3_000 })).status, 200)
      assert.equal(await balanceOf(api, fan), 3_000)
      const otherKey = toss.pay(orderId, 3_000)
      assertError(
        await confirm(fan, orderId, { paymentKey: otherKey, amount: 3_000 }),
        409,
        'TOP_UP_ALREADY_CONFIRMED',
      )
    })

    test('a provider outage answers 502 with Retry-After; confirming again later credits once', async () => {
      const fan = await signUp(api)
      const { orderId } = (await order(fan, 4_000)).body
      const paymentKey = toss.pay(orderId, 4_000)
      await toss.receiver.setMode('5xx')
      try {
        const res = await confirm(fan, orderId, { paymentKey, amount: 4_000 })
        assertError(res, 502, 'PAYMENT_PROVIDER_UNAVAILABLE')
        assert.equal(res.headers.get('retry-after'), '5')
      } finally {
        await toss.receiver.setMode('ok')
      }
      assert.equal((await confirm(fan, orderId, { paymentKey, amount: 4_000 })).status, 200)
      assert.equal(await balanceOf(api, fan), 4_000)
    })

    test("another fan's order is not found, and another fan's wallet is forbidden", async () => {
      const owner = await signUp(api)
      const thief = await signUp(api)
      const { orderId } = (await order(owner, 9_000)).body
      const paymentKey = toss.pay(orderId, 9_000)
      assertError(await confirm(thief, orderId, { paymentKey, amount: 9_000 }), 404, 'TOP_UP_ORDER_NOT_FOUND')
      const forbidden = await api.post(`/users/${owner.id}/wallet/top-ups/${orderId}/confirm`, {
        token: thief.token,
        body: { paymentKey, amount: 9_000 },
      })
      assertError(forbidden, 403, 'FORBIDDEN')
      assertError(
        await confirm(owner, 'topup_no_such_order', { paymentKey, amount: 9_000 }),
        404,
        'TOP_UP_ORDER_NOT_FOUND',
      )
      assert.equal(await balanceOf(api, thief), 0)
      assert.equal(await balanceOf(api, owner), 0)
    })

    test('an organizer grant goes through the ledger once per Idempotency-Key', async () => {
      const fan = await signUp(api)
      const key = randomUUID()
      const grant = (body: unknown, headers = adminHeaders(t.adminKey)) =>
        api.post(`/admin/users/${fan.id}/wallet/grants`, {
          headers: { ...headers, 'idempotency-key': key },
          body,
        })
      const first = await grant({ amount: 20_000, reason: 'refund for the cancelled show' })
      assert.equal(first.status, 201, JSON.stringify(first.body))
      assert.equal(first.body.balance, 20_000)
      assert.equal(first.body.entry.kind, 'grant')
      const replay = await grant({ amount: 20_000, reason: 'refund for the cancelled show' })
      assert.equal(replay.status, 201)
      assert.equal(replay.headers.get('idempotent-replayed'), 'true')
      assert.deepEqual(replay.body, first.body)
      assertError(await grant({ amount: 1, reason: 'other' }), 422, 'IDEMPOTENCY_KEY_REUSED')
      assertError(await grant({ amount: 5, reason: 'x' }, {}), 401, 'ADMIN_KEY_INVALID')
      assert.equal(await balanceOf(api, fan), 20_000)
      const lines = await ledger(fan)
      assert.deepEqual(
        lines.map((l) => [l.kind, l.amount]),
        [['grant', 20_000]],
      )
      const nobody = await api.post(`/admin/users/${randomUUID()}/wallet/grants`, {
        headers: { ...adminHeaders(t.adminKey), 'idempotency-key': randomUUID() },
        body: { amount: 5, reason: 'x' },
      })
      assertError(nobody, 404, 'USER_NOT_FOUND')
    })
  })
}

describe('top-up configuration [pglite]', () => {
  test('TOSS_SECRET_KEY and TOSS_API_URL are validated, naming the variable', () => {
    assert.throws(
      () => loadConfig({ TOSS_SECRET_KEY: 'sk_live_nope' }),
      (e: Error) => {
        assert.ok(e instanceof ConfigError)
        assert.match(e.message, /TOSS_SECRET_KEY/)
        return true
      },
    )
    assert.throws(() => loadConfig({ TOSS_API_URL: 'ftp://x' }), /TOSS_API_URL/)
    assert.throws(() => loadConfig({ DEMO_TOP_UP: 'yes' }), /DEMO_TOP_UP/)
    assert.equal(loadConfig({ TOSS_SECRET_KEY: SECRET }).TOSS_API_URL, 'https://api.tosspayments.com')
  })

  test('a secret key the provider refuses is our fault: 502, not a refusal of the fan', async () => {
    const toss = await startTossPayments({ secretKey: SECRET })
    try {
      const client = createTossPayments({
        apiUrl: toss.url,
        secretKey: 'test_sk_wrongwrongwrong',
        timeoutMs: 2000,
      })
      const paymentKey = toss.pay('topup_order_1', 100)
      await assert.rejects(
        client.confirm({ paymentKey, orderId: 'topup_order_1', amount: 100 }),
        (e: unknown) => {
          assert.ok(e instanceof AppError)
          assert.equal(e.code, 'PAYMENT_PROVIDER_UNAVAILABLE')
          return true
        },
      )
    } finally {
      await toss.close()
    }
  })

  describe('without a provider, on the embedded default', () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp('pglite', 'top_ups_demo', { DEMO_TOP_UP: 'auto' })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('top-up orders answer 503 TOP_UP_NOT_CONFIGURED, and the demo charge is on (auto with PGlite)', async () => {
      const fan = await signUp(api)
      const res = await api.post(`/users/${fan.id}/wallet/top-ups`, {
        token: fan.token,
        body: { amount: 1000 },
      })
      assertError(res, 503, 'TOP_UP_NOT_CONFIGURED')
      const charge = await api.post(`/users/${fan.id}/wallet/charges`, {
        token: fan.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { amount: 1000 },
      })
      assert.equal(charge.status, 201)
    })
  })
})
