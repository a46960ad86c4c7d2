import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { assertError, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'
import { percentile } from '../support/wait.ts'

const password = 'correct horse battery'
const ROUNDS = 10

/**
 * Timing says nothing about which e-mail addresses have accounts: an unknown address costs the same hash as a known
 * one. Medians of interleaved attempts are compared within a generous margin (the old code answered unknown
 * addresses 15-30 times faster); no wall-clock limit.
 */
describe('user enumeration [pglite]', () => {
  let t: TestApp
  let api: Api
  before(async () => {
    // A cost where the hash dominates the request, as in production.
    t = await startTestApp('pglite', 'enumeration', { PASSWORD_HASH_COST: 14 })
    api = new Api(t.url)
  })
  after(() => t.close())

  async function timed(work: () => Promise<unknown>): Promise<number> {
    const started = performance.now()
    await work()
    return performance.now() - started
  }

  test('sign-in for an unknown e-mail answers the same, and takes as long as a wrong password', async () => {
    const fan = await signUp(api)
    const known: number[] = []
    const unknown: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      known.push(
        await timed(async () => {
          const res = await api.post('/auth/sign-in', { body: { email: fan.email, password: `wrong ${i}` } })
          assertError(res, 401, 'INVALID_CREDENTIALS')
        }),
      )
      unknown.push(
        await timed(async () => {
          const res = await api.post('/auth/sign-in', {
            body: { email: `nobody-${randomUUID()}@test.example`, password: `wrong ${i}` },
          })
          assertError(res, 401, 'INVALID_CREDENTIALS')
          assert.equal(res.body.message, 'Email or password is wrong.')
        }),
      )
    }
    const k = percentile(known, 50)
    const u = percentile(unknown, 50)
    console.log(`[figure] sign-in median: known e-mail ${k.toFixed(1)} ms, unknown e-mail ${u.toFixed(1)} ms`)
    assert.ok(u >= k * 0.5 && u <= k * 2, `known ${k.toFixed(1)} ms vs unknown ${u.toFixed(1)} ms`)
  })

  test('sign-up for a taken e-mail is not faster than for a new one', async () => {
    const fan = await signUp(api)
    const taken: number[] = []
    const fresh: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      taken.push(
        await timed(async () => {
          const res = await api.post('/auth/sign-up', { body: { email: fan.email, name: 'x', password } })
          assertError(res, 409, 'EMAIL_TAKEN')
        }),
      )
      fresh.push(
        await timed(async () => {
          const res = await api.post('/auth/sign-up', {
            body: { email: `new-${randomUUID()}@test.example`, name: 'x', password },
          })
          assert.equal(res.status, 201)
        }),
      )
    }
    const tk = percentile(taken, 50)
    const fr = percentile(fresh, 50)
    console.log(`[figure] sign-up median: taken e-mail ${tk.toFixed(1)} ms, new e-mail ${fr.toFixed(1)} ms`)
    assert.ok(tk >= fr * 0.5, `taken ${tk.toFixed(1)} ms vs new ${fr.toFixed(1)} ms`)
  })
})
