import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { createTokenService } from '../../src/auth/tokens.ts'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import {
  assertError,
  balanceOf,
  charge,
  createSchedule,
  type Fan,
  holdSeat,
  seatStatus,
  signUp,
} from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`queue token protection [${kind}]`, () => {
    const secret = randomBytes(32).toString('hex')
    const tokens = createTokenService(secret, 3600)
    let t: TestApp
    let api: Api
    let fan: Fan
    let other: Fan
    let scheduleId: string
    let seatIds: string[]
    let fanToken: string
    let otherToken: string
    let otherScheduleToken: string

    before(async () => {
      t = await startTestApp(kind, 'queue_token', {
        AUTH_SECRET: secret,
        QUEUE_ADMIT_PER_SECOND: 1000,
        QUEUE_TOKEN_TTL_SECONDS: 10,
      })
      api = new Api(t.url)
      fan = await signUp(api, 'fan')
      other = await signUp(api, 'other')
      await charge(api, fan, 1_000_000)
      ;({ scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 20, price: 1_000 }))
      ;[fanToken, otherToken] = (await admitFans(t, api, scheduleId, [fan, other])) as [string, string]
      const second = await createSchedule(api, t.adminKey, { seats: 2 })
      ;[otherScheduleToken] = (await admitFans(t, api, second.scheduleId, [fan])) as [string]
    })
    after(() => t.close())

    /** Every way a queue token can be wrong, with the code it must produce. */
    function badTokens(): [string, string | undefined, number, string][] {
      const [h, p, s] = fanToken.split('.')
      return [
        ['no token', undefined, 401, 'QUEUE_TOKEN_INVALID'],
        ['garbage', 'garbage', 401, 'QUEUE_TOKEN_INVALID'],
        [
          'forged signature',
          `${h}.${p}.${s![0] === 'A' ? 'B' : 'A'}${s!.slice(1)}`,
          401,
          'QUEUE_TOKEN_INVALID',
        ],
        [
          'signed with another secret',
          createTokenService(randomBytes(32).toString('hex'), 3600).signQueue({
            userId: fan.id,
            scheduleId,
            expiresAt: new Date(Date.now() + 60_000),
          }),
          401,
          'QUEUE_TOKEN_INVALID',
        ],
        ['an access token', fan.token, 401, 'QUEUE_TOKEN_INVALID'],
        [
          'expired',
          tokens.signQueue({ userId: fan.id, scheduleId, expiresAt: new Date(Date.now() - 2_000) }),
          401,
          'QUEUE_TOKEN_EXPIRED',
        ],
        ['for another schedule', otherScheduleToken, 403, 'QUEUE_NOT_ADMITTED'],
        ["another user's", otherToken, 403, 'QUEUE_NOT_ADMITTED'],
      ]
    }

    test('a hold with a missing, forged, foreign, expired or wrong-schedule queue token is refused', async () => {
      const seatId = seatIds[0]!
      for (const [name, queueToken, status, code] of badTokens()) {
        const res = await api.post(`/schedules/${scheduleId}/seats/${seatId}/hold`, {
          token: fan.token,
          headers: queueToken === undefined ? {} : { 'x-queue-token': queueToken },
        })
        assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`)
        assert.equal(res.body.code, code, name)
      }
      assert.equal(await seatStatus(api, scheduleId, seatId), 'available')
      const mine = await api.get(`/users/${fan.id}/reservations`, { token: fan.token })
      assert.deepEqual(mine.body.reservations, [])
    })

    test('a valid queue token without an access token answers 401 UNAUTHENTICATED', async () => {
      const res = await api.post(`/schedules/${scheduleId}/seats/${seatIds[1]}/hold`, {
        headers: { 'x-queue-token': fanToken },
      })
      assertError(res, 401, 'UNAUTHENTICATED')
    })

    test('a token the service would issue (same secret, live, right user and schedule) is accepted', async () => {
      const selfSigned = tokens.signQueue({
        userId: fan.id,
        scheduleId,
        expiresAt: new Date(Date.now() + 60_000),
      })
      const res = await holdSeat(api, fan, scheduleId, seatIds[2]!, selfSigned)
      assert.equal(res.status, 201, JSON.stringify(res.body))
      await api.delete(`/reservations/${res.body.id}`, { token: fan.token })
    })

    test('a payment with a bad queue token is refused and changes nothing', async () => {
      const hold = await holdSeat(api, fan, scheduleId, seatIds[3]!, fanToken)
      assert.equal(hold.status, 201)
      const balance = await balanceOf(api, fan)
      for (const [name, queueToken, status, code] of badTokens()) {
        const headers: Record<string, string> = { 'idempotency-key': randomUUID() }
        if (queueToken !== undefined) headers['x-queue-token'] = queueToken
        const res = await api.post(`/reservations/${hold.body.id}/payment`, {
          token: fan.token,
          headers,
          body: {},
        })
        assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`)
        assert.equal(res.body.code, code, name)
      }
      assert.equal(await balanceOf(api, fan), balance)
      assert.equal(await seatStatus(api, scheduleId, seatIds[3]!), 'held')
      const reservation = await api.get(`/reservations/${hold.body.id}`, { token: fan.token })
      assert.equal(reservation.body.status, 'held')
      // and the real token still pays it
      const paid = await api.post(`/reservations/${hold.body.id}/payment`, {
        token: fan.token,
        headers: { 'x-queue-token': fanToken, 'idempotency-key': randomUUID() },
        body: {},
      })
      assert.equal(paid.status, 201, JSON.stringify(paid.body))
    })
  })
}
