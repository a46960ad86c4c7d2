import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { createTokenService } from '../../src/auth/tokens.ts'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { assertError, charge, createSchedule, holdSeat, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

const password = 'correct horse battery'

for (const kind of databaseKinds) {
  describe(`auth [${kind}]`, () => {
    let t: TestApp
    let api: Api
    const secret = randomBytes(32).toString('hex')
    before(async () => {
      t = await startTestApp(kind, 'auth', { AUTH_SECRET: secret, QUEUE_ADMIT_PER_SECOND: 1000 })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('sign-up answers 201 with the user and a working access token', async () => {
      const email = `new-${randomUUID()}@test.example`
      const res = await api.post('/auth/sign-up', { body: { email, name: 'New Fan', password } })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.match(res.body.user.id, /^[0-9a-f-]{36}$/)
      assert.equal(res.body.user.email, email)
      assert.equal(res.body.user.name, 'New Fan')
      assert.equal('password' in res.body.user || 'passwordHash' in res.body.user, false)
      const wallet = await api.get(`/users/${res.body.user.id}/wallet`, { token: res.body.accessToken })
      assert.equal(wallet.status, 200)
      assert.deepEqual(wallet.body, { userId: res.body.user.id, balance: 0 })
    })

    test('an email already taken, in any letter case, answers 409 EMAIL_TAKEN', async () => {
      const local = `Dup-${randomUUID()}`
      const first = await api.post('/auth/sign-up', {
        body: { email: `${local}@Test.Example`, name: 'A', password },
      })
      assert.equal(first.status, 201)
      assert.equal(first.body.user.email, `${local}@test.example`.toLowerCase())
      for (const email of [
        `${local}@Test.Example`,
        `${local.toLowerCase()}@test.example`,
        `${local.toUpperCase()}@TEST.EXAMPLE`,
      ]) {
        assertError(
          await api.post('/auth/sign-up', { body: { email, name: 'B', password } }),
          409,
          'EMAIL_TAKEN',
        )
      }
    })

    test('sign-up input is validated, naming the field', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ email: 'not-an-email', name: 'A', password }, 'email'],
        [{ email: `${randomUUID()}@test.example`, name: 'A', password: 'short' }, 'password'],
        [{ email: `${randomUUID()}@test.example`, name: '', password }, 'name'],
        [{ email: `${randomUUID()}@test.example`, password }, 'name'],
        [{ email: `${randomUUID()}@test.example`, name: 'A', password, admin: true }, 'admin'],
      ]
      for (const [body, field] of cases) {
        const res = await api.post('/auth/sign-up', { body })
        assertError(res, 400, 'VALIDATION_FAILED')
        assert.match(
          `${res.body.message} ${JSON.stringify(res.body.details)}`,
          new RegExp(field),
          JSON.stringify(res.body),
        )
      }
    })

    test('sign-in with the right password gives a token for the same user, any email case', async () => {
      const fan = await signUp(api, 'signin')
      const res = await api.post('/auth/sign-in', { body: { email: fan.email.toUpperCase(), password } })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.user.id, fan.id)
      const wallet = await api.get(`/users/${fan.id}/wallet`, { token: res.body.accessToken })
      assert.equal(wallet.status, 200)
    })

    test('a wrong password or unknown email answers 401 INVALID_CREDENTIALS, the same for both', async () => {
      const fan = await signUp(api, 'badpw')
      const wrong = await api.post('/auth/sign-in', {
        body: { email: fan.email, password: 'wrong password!' },
      })
      assertError(wrong, 401, 'INVALID_CREDENTIALS')
      assertError(
        await api.post('/auth/sign-in', { body: { email: fan.email, password: '' } }),
        401,
        'INVALID_CREDENTIALS',
      )
      const unknown = await api.post('/auth/sign-in', {
        body: { email: `nobody-${randomUUID()}@test.example`, password },
      })
      assertError(unknown, 401, 'INVALID_CREDENTIALS')
      assert.equal(unknown.body.message, wrong.body.message)
    })

    test('missing, garbage, forged or wrong-kind bearer tokens answer 401 UNAUTHENTICATED', async () => {
      const fan = await signUp(api, 'bearer')
      const path = `/users/${fan.id}/wallet`
      const [header, payload, signature] = fan.token.split('.')
      const forged = `${header}.${payload}.${signature![0] === 'A' ? 'B' : 'A'}${signature!.slice(1)}`
      const otherSecret = createTokenService(randomBytes(32).toString('hex'), 3600).signAccess(fan.id)
      const queueToken = createTokenService(secret, 3600).signQueue({
        userId: fan.id,
        scheduleId: randomUUID(),
        expiresAt: new Date(Date.now() + 60_000),
      })
      assertError(await api.get(path), 401, 'UNAUTHENTICATED')
      for (const authorization of [
        'Bearer garbage',
        'Bearer ',
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        fan.token,
        `Bearer ${forged}`,
        `Bearer ${otherSecret}`,
        `Bearer ${queueToken}`,
      ]) {
        assertError(await api.get(path, { headers: { authorization } }), 401, 'UNAUTHENTICATED')
      }
      // a self-signed token with the service secret is accepted: the failures above are about the token alone
      const good = createTokenService(secret, 3600).signAccess(fan.id)
      assert.equal((await api.get(path, { token: good })).status, 200)
    })

    test("another user's wallet, ledger, reservations and coupons answer 403 FORBIDDEN", async () => {
      const owner = await signUp(api, 'owner')
      const intruder = await signUp(api, 'intruder')
      await charge(api, owner, 1000)
      for (const path of ['wallet', 'wallet/ledger', 'reservations', 'coupons']) {
        assertError(await api.get(`/users/${owner.id}/${path}`, { token: intruder.token }), 403, 'FORBIDDEN')
      }
      const steal = await api.post(`/users/${owner.id}/wallet/charges`, {
        token: intruder.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { amount: 10 },
      })
      assertError(steal, 403, 'FORBIDDEN')
      const wallet = await api.get(`/users/${owner.id}/wallet`, { token: owner.token })
      assert.equal(wallet.body.balance, 1000)
    })

    test("another user's reservation cannot be read or cancelled (403), and stays held", async () => {
      const owner = await signUp(api, 'res-owner')
      const intruder = await signUp(api, 'res-intruder')
      const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 2 })
      const [queueToken] = await admitFans(t, api, scheduleId, [owner])
      const hold = await holdSeat(api, owner, scheduleId, seatIds[0]!, queueToken!)
      assert.equal(hold.status, 201)
      const path = `/reservations/${hold.body.id}`
      assertError(await api.get(path, { token: intruder.token }), 403, 'FORBIDDEN')
      assertError(await api.delete(path, { token: intruder.token }), 403, 'FORBIDDEN')
      assertError(await api.get(path), 401, 'UNAUTHENTICATED')
      const mine = await api.get(path, { token: owner.token })
      assert.equal(mine.body.status, 'held')
    })
  })
}
