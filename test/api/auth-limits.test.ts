import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api, type ApiResponse } from '../support/api-client.ts'
import { assertError } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

const password = 'correct horse battery'

/** Sign-in and sign-up attempts are limited per e-mail address and per client address (in memory, per instance). */
describe('sign-in and sign-up rate limits [pglite]', () => {
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp('pglite', 'auth-limits', {
      AUTH_RATE_PER_ACCOUNT: 3,
      AUTH_RATE_PER_ADDRESS: 6,
      AUTH_RATE_WINDOW_SECONDS: 600,
    })
    api = new Api(t.url)
  })
  after(() => t.close())

  function assertLimited(res: ApiResponse, scope: string) {
    assertError(res, 429, 'RATE_LIMITED')
    assert.equal(res.body.details.scope, scope)
    const retryAfter = Number(res.headers.get('retry-after'))
    assert.ok(retryAfter >= 1 && retryAfter <= 600, `Retry-After ${res.headers.get('retry-after')}`)
    assert.equal(res.body.details.retryAfterSeconds, retryAfter)
  }

  test('per account: the fourth attempt on one e-mail is refused, even with the right password, in any case', async () => {
    const email = `limited-${randomUUID()}@test.example`
    assert.equal((await api.post('/auth/sign-up', { body: { email, name: 'L', password } })).status, 201)
    assertError(
      await api.post('/auth/sign-in', { body: { email, password: 'wrong password' } }),
      401,
      'INVALID_CREDENTIALS',
    )
    assertError(
      await api.post('/auth/sign-in', { body: { email: email.toUpperCase(), password: 'wrong again' } }),
      401,
      'INVALID_CREDENTIALS',
    )
    assertLimited(await api.post('/auth/sign-in', { body: { email, password } }), 'account')
    assertLimited(await api.post('/auth/sign-up', { body: { email, name: 'L', password } }), 'account')
  })

  test('an unknown e-mail is limited the same way as a known one', async () => {
    const email = `nobody-${randomUUID()}@test.example`
    assertError(await api.post('/auth/sign-in', { body: { email, password } }), 401, 'INVALID_CREDENTIALS')
    // The address has now made 6 counted attempts (5 in the test before, 1 here): the next one is refused by address.
    assertLimited(
      await api.post('/auth/sign-in', { body: { email: `other-${randomUUID()}@test.example`, password } }),
      'address',
    )
  })

  test('other routes are not limited', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await api.get('/health')).status, 200)
  })
})
