import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// JSON bodies are validated as sent (no type coercion); path and query strings are still coerced.
describe('strict JSON bodies [pglite]', () => {
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp('pglite', 'strict')
    api = new Api(t.url)
  })
  after(() => t.close())

  test('a boolean, string or array where a number belongs is refused and charges nothing', async () => {
    const fan = await signUp(api)
    for (const amount of [true, '5000', [5000]]) {
      const res = await api.post(`/users/${fan.id}/wallet/charges`, {
        token: fan.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { amount },
      })
      assert.equal(res.status, 400, JSON.stringify({ amount, body: res.body }))
      assert.equal(res.body.code, 'VALIDATION_FAILED')
      assert.equal(res.body.details.field, 'amount')
    }
    const wallet = await api.get(`/users/${fan.id}/wallet`, { token: fan.token })
    assert.equal(wallet.body.balance, 0)
    const ledger = await api.get(`/users/${fan.id}/wallet/ledger?limit=5`, { token: fan.token })
    assert.equal(ledger.status, 200, 'query strings are still read as numbers')
    assert.deepEqual(ledger.body.entries, [])
  })
})

// Half a surrogate pair (an escape like \ud800 alone) is valid JSON, but PostgreSQL refuses it in jsonb: the wallet
// charge's idempotency record held it and the fuzzer's charge came back as a 500 (seed 690934).
for (const kind of databaseKinds) {
  describe(`lone surrogates in a JSON body [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'surrogates')
      api = new Api(t.url)
    })
    after(() => t.close())

    test('half a surrogate pair, high or low, is refused with 400 and charges nothing; a whole pair is kept', async () => {
      const fan = await signUp(api)
      const charge = (body: unknown) =>
        api.post(`/users/${fan.id}/wallet/charges`, {
          token: fan.token,
          headers: { 'idempotency-key': randomUUID() },
          body,
        })
      for (const body of [
        { amount: 700, reference: '\ud800' },
        { amount: 700, reference: 'gift \udfab' },
      ]) {
        const res = await charge(body)
        assert.equal(res.status, 400, JSON.stringify(res.body))
        assert.equal(res.body.code, 'VALIDATION_FAILED')
      }
      const wallet = await api.get(`/users/${fan.id}/wallet`, { token: fan.token })
      assert.equal(wallet.body.balance, 0, 'no refused charge was applied')

      const whole = await charge({ amount: 700, reference: 'ticket \ud83c\udfab' })
      assert.equal(whole.status, 201, JSON.stringify(whole.body))
      const ledger = await api.get(`/users/${fan.id}/wallet/ledger?limit=5`, { token: fan.token })
      assert.deepEqual(
        ledger.body.entries.map((e: { reference: string }) => e.reference),
        ['ticket 🎫'],
      )
    })
  })
}
