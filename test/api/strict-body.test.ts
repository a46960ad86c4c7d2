import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
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
