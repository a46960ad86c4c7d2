import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { assertError, type Fan, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// Only the API role runs here: codes are written with their event but not sent (the side-effect test sends them
// through a loopback SMS partner). The tests read the code from the database, as the fan would read their SMS.
for (const kind of databaseKinds) {
  describe(`phone verification and push tokens [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'contacts', {
        SMS_API_URL: 'http://127.0.0.1:9',
        SMS_APP_KEY: 'app',
        SMS_SECRET_KEY: 'secret',
        SMS_SENDER_NUMBER: '15446859',
        PHONE_CODE_MAX_ATTEMPTS: 3,
        PHONE_CODE_MAX_PER_HOUR: 3,
      })
      api = new Api(t.url)
    })
    after(() => t.close())

    const ask = (fan: Fan, phoneNumber: string) =>
      api.post(`/users/${fan.id}/phone/verification`, { token: fan.token, body: { phoneNumber } })
    const confirm = (fan: Fan, code: string) =>
      api.post(`/users/${fan.id}/phone/verification/confirm`, { token: fan.token, body: { code } })
    const codeOf = async (verificationId: string) =>
      (
        await t.app.database.db
          .selectFrom('phone_verifications')
          .select('code')
          .where('id', '=', verificationId)
          .executeTakeFirstOrThrow()
      ).code!

    test('a code is asked, kept out of the event, confirmed; the number becomes the verified phone', async () => {
      const fan = await signUp(api)
      assert.deepEqual((await api.get(`/users/${fan.id}/phone`, { token: fan.token })).body, {
        phoneNumber: null,
        verifiedAt: null,
        pending: null,
      })
      assertError(await ask(fan, '02-123-4567'), 400, 'VALIDATION_FAILED')
      const asked = await ask(fan, '010-2000-0001')
      assert.equal(asked.status, 202, JSON.stringify(asked.body))
      assert.equal(asked.body.phoneNumber, '+821020000001')
      const code = await codeOf(asked.body.verificationId)
      assert.match(code, /^[0-9]{6}$/)
      const events = await t.app.database.db
        .selectFrom('outbox')
        .select('event')
        .where('topic', '=', 'phone.verification-requested')
        .execute()
      const mine = events
        .map((e) => JSON.stringify(e.event))
        .filter((e) => e.includes(asked.body.verificationId))
      assert.equal(mine.length, 1, 'the request is written with its event')
      assert.ok(!mine[0]!.includes(code), 'the code is not in the event')

      const pending = await api.get(`/users/${fan.id}/phone`, { token: fan.token })
      assert.equal(pending.body.pending.phoneNumber, '+821020000001')
      assert.equal(pending.body.pending.sendStatus, 'queued')
      assert.equal(pending.body.pending.attemptsLeft, 3)

      const wrong = code === '000000' ? '111111' : '000000'
      const bad = await confirm(fan, wrong)
      assertError(bad, 422, 'PHONE_CODE_INVALID')
      assert.equal(bad.body.details.attemptsLeft, 2)
      assertError(await confirm(fan, '12'), 400, 'VALIDATION_FAILED')
      const ok = await confirm(fan, code)
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body.phoneNumber, '+821020000001')
      const phone = await api.get(`/users/${fan.id}/phone`, { token: fan.token })
      assert.equal(phone.body.phoneNumber, '+821020000001')
      assert.equal(phone.body.pending, null)
      assertError(await confirm(fan, code), 404, 'PHONE_VERIFICATION_NOT_FOUND')

      const other = await signUp(api)
      assertError(await api.get(`/users/${fan.id}/phone`, { token: other.token }), 403, 'FORBIDDEN')
      assert.equal((await api.delete(`/users/${fan.id}/phone`, { token: fan.token })).status, 204)
      assert.equal((await api.get(`/users/${fan.id}/phone`, { token: fan.token })).body.phoneNumber, null)
    })

    test('wrong codes run out; an expired code is refused; a new code replaces the old one', async () => {
      const fan = await signUp(api)
      const first = await ask(fan, '01020000002')
      const firstCode = await codeOf(first.body.verificationId)
      const second = await ask(fan, '+82 10-2000-0002')
      assert.equal(second.status, 202)
      const code = await codeOf(second.body.verificationId)
      if (firstCode !== code) assertError(await confirm(fan, firstCode), 422, 'PHONE_CODE_INVALID')
      else assertError(await confirm(fan, code === '000000' ? '111111' : '000000'), 422, 'PHONE_CODE_INVALID')
      assertError(await confirm(fan, code === '000000' ? '111111' : '000000'), 422, 'PHONE_CODE_INVALID')
      assertError(
        await confirm(fan, code === '000000' ? '111111' : '000000'),
        429,
        'PHONE_CODE_ATTEMPTS_EXCEEDED',
      )
      assertError(await confirm(fan, code), 404, 'PHONE_VERIFICATION_NOT_FOUND')

      const late = await signUp(api)
      const asked = await ask(late, '01020000003')
      // The clock cannot be moved: the code's deadline is.
      await t.app.database.db
        .updateTable('phone_verifications')
        .set({ expires_at: sql`now() - interval '1 second'` })
        .where('id', '=', asked.body.verificationId)
        .execute()
      assertError(await confirm(late, await codeOf(asked.body.verificationId)), 410, 'PHONE_CODE_EXPIRED')
    })

    test('codes per hour are limited per user and per number (429 with Retry-After)', async () => {
      const fan = await signUp(api)
      for (let i = 0; i < 3; i++) assert.equal((await ask(fan, '01020000004')).status, 202)
      const limited = await ask(fan, '01020000005')
      assertError(limited, 429, 'RATE_LIMITED')
      assert.ok(Number(limited.headers.get('retry-after')) > 0)
      // Three other accounts cannot flood one number either.
      const victim = '01020000006'
      for (let i = 0; i < 3; i++) assert.equal((await ask(await signUp(api), victim)).status, 202)
      assertError(await ask(await signUp(api), victim), 429, 'RATE_LIMITED')
    })

    test('push tokens: register, list, move to the account that registers them, at most ten, remove', async () => {
      const fan = await signUp(api)
      const token = (n: number) => `fcm-token-${fan.id}-${n}:APA91b`
      const put = (who: Fan, tok: string) =>
        api.post(`/users/${who.id}/push-tokens`, {
          token: who.token,
          body: { token: tok, platform: 'android' },
        })
      const first = await put(fan, token(0))
      assert.equal(first.status, 201, JSON.stringify(first.body))
      assert.equal(first.body.token, token(0))
      assertError(
        await api.post(`/users/${fan.id}/push-tokens`, {
          token: fan.token,
          body: { token: 'has spaces in it, not a token', platform: 'android' },
        }),
        400,
        'VALIDATION_FAILED',
      )
      assertError(
        await api.post(`/users/${fan.id}/push-tokens`, {
          token: fan.token,
          body: { token: token(9), platform: 'pc' },
        }),
        400,
        'VALIDATION_FAILED',
      )
      const other = await signUp(api)
      assert.equal((await put(other, token(0))).status, 201)
      const list = (who: Fan) => api.get(`/users/${who.id}/push-tokens`, { token: who.token })
      assert.deepEqual((await list(fan)).body.pushTokens, [], 'the token moved to the other account')
      assert.equal((await list(other)).body.pushTokens.length, 1)

      for (let n = 1; n <= 11; n++) assert.equal((await put(fan, token(n))).status, 201)
      const mine = (await list(fan)).body.pushTokens
      assert.equal(mine.length, 10)
      assert.ok(!mine.some((p: any) => p.token === token(1)), 'the oldest one was forgotten')
      const removed = mine[0].id
      assert.equal(
        (await api.delete(`/users/${fan.id}/push-tokens/${removed}`, { token: fan.token })).status,
        204,
      )
      assertError(
        await api.delete(`/users/${fan.id}/push-tokens/${removed}`, { token: fan.token }),
        404,
        'PUSH_TOKEN_NOT_FOUND',
      )
    })

    test('preferences: SMS is opt-in and reachable once a phone is verified; no user-chosen targets', async () => {
      const fan = await signUp(api)
      const prefs = () => api.get(`/users/${fan.id}/notification-preferences`, { token: fan.token })
      const sms = (body: any) => body.channels.find((c: any) => c.channel === 'sms')
      assert.deepEqual(sms((await prefs()).body), { channel: 'sms', enabled: false, reachable: false })
      const put = (preferences: unknown) =>
        api.request('PUT', `/users/${fan.id}/notification-preferences`, {
          token: fan.token,
          body: { preferences },
        })
      assertError(
        await put([{ channel: 'sms', enabled: true, target: '01012345678' }]),
        400,
        'VALIDATION_FAILED',
      )
      assert.equal((await put([{ channel: 'sms', enabled: true, target: null }])).status, 200)
      const asked = await ask(fan, '01020000007')
      assert.equal((await confirm(fan, await codeOf(asked.body.verificationId))).status, 200)
      assert.deepEqual(sms((await prefs()).body), { channel: 'sms', enabled: true, reachable: true })
    })
  })
}
