import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { assertError, balanceOf, type Fan, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`wallet [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'wallet')
      api = new Api(t.url)
    })
    after(() => t.close())

    function chargeWith(fan: Fan, key: string | undefined, body: unknown) {
      return api.post(`/users/${fan.id}/wallet/charges`, {
        token: fan.token,
        headers: key === undefined ? {} : { 'idempotency-key': key },
        body,
      })
    }

    async function ledger(fan: Fan, query = '') {
      const res = await api.get(`/users/${fan.id}/wallet/ledger${query}`, { token: fan.token })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return res.body.entries as {
        id: number
        amount: number
        kind: string
        balanceAfter: number
        reference: string
      }[]
    }

    test('a charge answers 201 with the ledger line and the new balance', async () => {
      const fan = await signUp(api)
      const key = randomUUID()
      const res = await chargeWith(fan, key, { amount: 5_000 })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.equal(res.headers.get('idempotent-replayed'), null)
      assert.equal(res.body.balance, 5_000)
      assert.equal(res.body.entry.amount, 5_000)
      assert.equal(res.body.entry.kind, 'charge')
      assert.equal(res.body.entry.balanceAfter, 5_000)
      assert.equal(res.body.entry.reference, `charge:${key}`)
      assert.ok(!Number.isNaN(Date.parse(res.body.entry.createdAt)))
      const withRef = await chargeWith(fan, randomUUID(), { amount: 1, reference: 'gift card 42' })
      assert.equal(withRef.body.entry.reference, 'gift card 42')
      assert.equal(await balanceOf(api, fan), 5_001)
    })

    test('the same key and body twice charge once and answer the same, marked as replayed', async () => {
      const fan = await signUp(api)
      const key = randomUUID()
      const first = await chargeWith(fan, key, { amount: 7_000 })
      const second = await chargeWith(fan, key, { amount: 7_000 })
      assert.equal(first.status, 201)
      assert.equal(second.status, 201)
      assert.deepEqual(second.body, first.body)
      assert.equal(second.headers.get('idempotent-replayed'), 'true')
      assert.equal(await balanceOf(api, fan), 7_000)
      assert.equal((await ledger(fan)).length, 1)
    })

    test('keys belong to one user: another user may use the same key', async () => {
      const a = await signUp(api)
      const b = await signUp(api)
      const key = randomUUID()
      assert.equal((await chargeWith(a, key, { amount: 10 })).status, 201)
      const other = await chargeWith(b, key, { amount: 20 })
      assert.equal(other.status, 201)
      assert.equal(other.headers.get('idempotent-replayed'), null)
      assert.equal(await balanceOf(api, b), 20)
    })

    test('the same key with a different body answers 422 IDEMPOTENCY_KEY_REUSED and charges nothing more', async () => {
      const fan = await signUp(api)
      const key = randomUUID()
      assert.equal((await chargeWith(fan, key, { amount: 100 })).status, 201)
      assertError(await chargeWith(fan, key, { amount: 200 }), 422, 'IDEMPOTENCY_KEY_REUSED')
      assertError(await chargeWith(fan, key, { amount: 100, reference: 'x' }), 422, 'IDEMPOTENCY_KEY_REUSED')
      assert.equal(await balanceOf(api, fan), 100)
      assert.equal((await ledger(fan)).length, 1)
    })

    test('a missing Idempotency-Key answers 400 VALIDATION_FAILED naming the header', async () => {
      const fan = await signUp(api)
      const res = await chargeWith(fan, undefined, { amount: 100 })
      assertError(res, 400, 'VALIDATION_FAILED')
      assert.equal(res.body.details.field, 'idempotency-key')
      assert.equal(res.body.details.location, 'headers')
      assert.match(res.body.message, /idempotency-key/i)
      assert.equal(await balanceOf(api, fan), 0)
    })

    test('zero, negative, fractional, non-numeric, missing and huge amounts answer 400 naming amount', async () => {
      const fan = await signUp(api)
      for (const amount of [0, -1, -5_000, 1.5, 'lots', null, 100_000_001, 1e20]) {
        const res = await chargeWith(fan, randomUUID(), { amount })
        assertError(res, 400, 'VALIDATION_FAILED')
        assert.equal(
          res.body.details.field,
          'amount',
          `${JSON.stringify(amount)}: ${JSON.stringify(res.body)}`,
        )
      }
      const missing = await chargeWith(fan, randomUUID(), {})
      assertError(missing, 400, 'VALIDATION_FAILED')
      assert.equal(missing.body.details.field, 'amount')
      assert.equal(await balanceOf(api, fan), 0)
      assert.equal((await ledger(fan)).length, 0)
    })

    test('the largest single charge is accepted; a balance past the column maximum answers 400, not 500', async () => {
      const fan = await signUp(api)
      for (let i = 0; i < 21; i++) {
        const res = await chargeWith(fan, randomUUID(), { amount: 100_000_000 })
        assert.equal(res.status, 201, JSON.stringify(res.body))
      }
      const over = await chargeWith(fan, randomUUID(), { amount: 100_000_000 })
      assertError(over, 400, 'VALIDATION_FAILED')
      assert.equal(over.body.details.field, 'amount')
      assert.equal(await balanceOf(api, fan), 2_100_000_000)
      assert.equal((await ledger(fan, '?limit=500')).length, 21)
    })

    test('the ledger is newest first, each line carries the running balance, and it sums to the balance', async () => {
      const fan = await signUp(api)
      const amounts = [100, 250, 3_000, 1, 42]
      for (const amount of amounts) await chargeWith(fan, randomUUID(), { amount })
      const entries = await ledger(fan)
      assert.deepEqual(
        entries.map((e) => e.amount),
        [...amounts].reverse(),
      )
      const balance = await balanceOf(api, fan)
      assert.equal(
        balance,
        amounts.reduce((a, b) => a + b, 0),
      )
      assert.equal(
        entries.reduce((sum, e) => sum + e.amount, 0),
        balance,
      )
      assert.equal(entries[0]!.balanceAfter, balance)
      for (let i = 0; i < entries.length - 1; i++) {
        assert.ok(entries[i]!.id > entries[i + 1]!.id)
        assert.equal(entries[i]!.balanceAfter - entries[i]!.amount, entries[i + 1]!.balanceAfter)
      }
    })

    test('ledger pages with limit and before, without gaps or overlaps', async () => {
      const fan = await signUp(api)
      for (let amount = 1; amount <= 7; amount++) await chargeWith(fan, randomUUID(), { amount })
      const all = await ledger(fan)
      assert.equal(all.length, 7)
      const seen: number[] = []
      let before: number | undefined
      for (let page = 0; page < 10; page++) {
        const entries = await ledger(fan, `?limit=3${before === undefined ? '' : `&before=${before}`}`)
        if (entries.length === 0) break
        assert.ok(entries.length <= 3)
        seen.push(...entries.map((e) => e.id))
        before = entries.at(-1)!.id
      }
      assert.deepEqual(
        seen,
        all.map((e) => e.id),
      )
      assert.deepEqual(await ledger(fan, `?before=${all.at(-1)!.id}`), [])
    })

    test("the ledger shows only the caller's own lines", async () => {
      const a = await signUp(api)
      const b = await signUp(api)
      await chargeWith(a, randomUUID(), { amount: 11 })
      await chargeWith(b, randomUUID(), { amount: 22 })
      assert.deepEqual(
        (await ledger(a)).map((e) => e.amount),
        [11],
      )
      assert.deepEqual(
        (await ledger(b)).map((e) => e.amount),
        [22],
      )
    })

    test('bad ledger paging answers 400 naming the parameter', async () => {
      const fan = await signUp(api)
      for (const [query, field] of [
        ['?limit=0', 'limit'],
        ['?limit=501', 'limit'],
        ['?limit=abc', 'limit'],
        ['?before=0', 'before'],
        ['?before=x', 'before'],
        ['?before=garbage', 'before'],
        ['?before=Infinity', 'before'],
        ['?before=-Infinity', 'before'],
        ['?before=1e400', 'before'],
        ['?before=NaN', 'before'],
        ['?before=9007199254740992', 'before'],
        ['?limit=Infinity', 'limit'],
        ['?limit=1e400', 'limit'],
      ]) {
        const res = await api.get(`/users/${fan.id}/wallet/ledger${query}`, { token: fan.token })
        assertError(res, 400, 'VALIDATION_FAILED')
        assert.equal(res.body.details.field, field, query)
      }
      const largest = await api.get(`/users/${fan.id}/wallet/ledger?before=9007199254740991`, {
        token: fan.token,
      })
      assert.equal(largest.status, 200, 'the largest safe cursor is a cursor')
    })
  })
}
