import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { errorCatalog } from '../../src/platform/errors.ts'
import { securityHeaders } from '../../src/platform/security-headers.ts'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import {
  assertError,
  balanceOf,
  charge,
  createSchedule,
  type Fan,
  holdSeat,
  pay,
  seatStatus,
  signUp,
  sleep,
} from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

/** A fresh open schedule and fans already admitted to it, each with their queue token. */
async function admitted(t: TestApp, api: Api, n: number, options: { seats?: number; price?: number } = {}) {
  const schedule = await createSchedule(api, t.adminKey, {
    seats: options.seats ?? 10,
    price: options.price ?? 1_000,
  })
  const fans: Fan[] = []
  for (let i = 0; i < n; i++) fans.push(await signUp(api, `holder${i}`))
  const tokens = await admitFans(t, api, schedule.scheduleId, fans)
  return { ...schedule, fans, tokens }
}

for (const kind of databaseKinds) {
  describe(`holds [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'holds', { QUEUE_ADMIT_PER_SECOND: 1000, MAX_HOLDS_PER_USER: 2 })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('a hold answers 201 with a live reservation; the seat reads held', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 1, { price: 77_000 })
      const started = Date.now()
      const res = await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.equal(res.body.status, 'held')
      assert.equal(res.body.scheduleId, scheduleId)
      assert.equal(res.body.seatId, seatIds[0])
      assert.equal(res.body.seatLabel, 'R-1')
      assert.equal(res.body.userId, fans[0]!.id)
      assert.equal(res.body.price, 77_000)
      assert.equal(res.body.confirmedAt, null)
      const ttl = Date.parse(res.body.expiresAt) - started
      assert.ok(ttl > 290_000 && ttl < 310_000, `hold lasts HOLD_TTL_SECONDS (300 s), got ${ttl} ms`)
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'held')

      const read = await api.get(`/reservations/${res.body.id}`, { token: fans[0]!.token })
      assert.equal(read.status, 200)
      assert.equal(read.body.status, 'held')
      assert.equal(read.body.expiresAt, res.body.expiresAt)
      const list = await api.get(`/users/${fans[0]!.id}/reservations`, { token: fans[0]!.token })
      assert.deepEqual(
        list.body.reservations.map((r: { id: string }) => r.id),
        [res.body.id],
      )
    })

    test('a seat someone holds answers 409 SEAT_ALREADY_HELD, to others and to the holder', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 2)
      assert.equal((await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)).status, 201)
      assertError(
        await holdSeat(api, fans[1]!, scheduleId, seatIds[0]!, tokens[1]!),
        409,
        'SEAT_ALREADY_HELD',
      )
      assertError(
        await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!),
        409,
        'SEAT_ALREADY_HELD',
      )
      const second = await api.get(`/users/${fans[1]!.id}/reservations`, { token: fans[1]!.token })
      assert.deepEqual(second.body.reservations, [])
    })

    // Needs a second connection to hold the fan's admission row locked, so that the winning attempt stays in flight.
    if (kind === 'postgres')
      test('an attempt on a seat the database is being asked about waits for that answer before its tokens are checked', async () => {
        const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 1)
        const lock = await t.app.database.pool!.connect()
        try {
          await lock.query('begin')
          await lock.query('select 1 from queue_entries where schedule_id = $1 and user_id = $2 for update', [
            scheduleId,
            fans[0]!.id,
          ])
          const winning = holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)
          await waitFor('the hold attempt to wait on the locked admission row', async () => {
            const { rows } = await lock.query<{ n: number }>(
              "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
            )
            return rows[0]!.n > 0
          })
          let bareAnswered = false
          const bare = api.post(`/schedules/${scheduleId}/seats/${seatIds[0]!}/hold`, {}).then((res) => {
            bareAnswered = true
            return res
          })
          await sleep(300)
          assert.equal(bareAnswered, false, 'a request without tokens waits for the attempt in flight')
          await lock.query('commit')
          assert.equal((await winning).status, 201)
          assertError(await bare, 409, 'SEAT_ALREADY_HELD')
        } finally {
          await lock.query('rollback').catch(() => {})
          lock.release()
        }
      })

    // The fans' routines have connections of their own: background work holding every other one keeps no fan waiting.
    if (kind === 'postgres')
      test('a fan holds and pays while every connection outside the routines is taken', async () => {
        const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 1)
        await charge(api, fans[0]!, 1_000)
        const general = t.app.database.pool!
        const taken = await Promise.all(Array.from({ length: general.options.max }, () => general.connect()))
        try {
          assert.equal(general.idleCount, 0)
          const hold = await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)
          assert.equal(hold.status, 201)
          const paid = await pay(api, fans[0]!, hold.body.id, tokens[0]!)
          assert.equal(paid.status, 201)
        } finally {
          for (const client of taken) client.release()
        }
        assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'sold')
      })

    test('a taken seat answers 409 before the tokens are checked; a free one checks them first', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 1)
      assert.equal((await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)).status, 201)
      const bare = (seatId: string) => api.post(`/schedules/${scheduleId}/seats/${seatId}/hold`, {})
      const taken = await bare(seatIds[0]!)
      // Answered from memory without Fastify's error path: the same answer as any catalog error.
      assert.equal(taken.status, 409)
      assert.deepEqual(taken.body, {
        code: 'SEAT_ALREADY_HELD',
        message: errorCatalog.SEAT_ALREADY_HELD.message,
      })
      assert.equal(taken.headers.get('content-type'), 'application/json; charset=utf-8')
      for (const [name, value] of Object.entries(securityHeaders))
        assert.equal(taken.headers.get(name), value)
      assertError(await bare(seatIds[1]!), 401, 'UNAUTHENTICATED')
      // answered before validation, but only for ids the board learned from the database: others are validated
      assertError(await bare('not-a-seat'), 400, 'VALIDATION_FAILED')
      assertError(await bare(seatIds[0]!.toUpperCase()), 401, 'UNAUTHENTICATED')
      assertError(
        await api.post(`/schedules/${scheduleId}/seats/${seatIds[1]!}/hold`, { token: fans[0]!.token }),
        401,
        'QUEUE_TOKEN_INVALID',
      )
      assert.equal(await seatStatus(api, scheduleId, seatIds[1]!), 'available')
    })

    test('a sold seat answers 409 SEAT_ALREADY_HELD', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 2)
      await charge(api, fans[0]!, 10_000)
      const hold = await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)
      assert.equal((await pay(api, fans[0]!, hold.body.id, tokens[0]!)).status, 201)
      assertError(
        await holdSeat(api, fans[1]!, scheduleId, seatIds[0]!, tokens[1]!),
        409,
        'SEAT_ALREADY_HELD',
      )
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'sold')
    })

    test('past MAX_HOLDS_PER_USER a hold answers 409 HOLD_LIMIT_REACHED and leaves the seat free', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 1)
      const [fan, token] = [fans[0]!, tokens[0]!]
      const first = await holdSeat(api, fan, scheduleId, seatIds[0]!, token)
      assert.equal(first.status, 201)
      assert.equal((await holdSeat(api, fan, scheduleId, seatIds[1]!, token)).status, 201)
      assertError(await holdSeat(api, fan, scheduleId, seatIds[2]!, token), 409, 'HOLD_LIMIT_REACHED')
      assert.equal(await seatStatus(api, scheduleId, seatIds[2]!), 'available')
      // releasing one makes room again
      assert.equal((await api.delete(`/reservations/${first.body.id}`, { token: fan.token })).status, 204)
      assert.equal((await holdSeat(api, fan, scheduleId, seatIds[2]!, token)).status, 201)
    })

    test('the cap is per admission: seats paid under it count, and paying the last live hold spends it', async () => {
      const a = await admitted(t, api, 1)
      const fan = a.fans[0]!
      await charge(api, fan, 100_000)
      const b = await createSchedule(api, t.adminKey, { seats: 3 })
      const [bToken] = await admitFans(t, api, b.scheduleId, [fan])
      const first = await holdSeat(api, fan, a.scheduleId, a.seatIds[0]!, a.tokens[0]!)
      assert.equal(first.status, 201)
      // another schedule's admission has a cap of its own
      assert.equal((await holdSeat(api, fan, b.scheduleId, b.seatIds[0]!, bToken!)).status, 201)
      const second = await holdSeat(api, fan, a.scheduleId, a.seatIds[1]!, a.tokens[0]!)
      assert.equal(second.status, 201)
      assert.equal((await pay(api, fan, first.body.id, a.tokens[0]!)).status, 201)
      // one paid and one live: the admission's two seats are taken
      assertError(
        await holdSeat(api, fan, a.scheduleId, a.seatIds[2]!, a.tokens[0]!),
        409,
        'HOLD_LIMIT_REACHED',
      )
      assert.equal((await pay(api, fan, second.body.id, a.tokens[0]!)).status, 201)
      // nothing left to pay for: the admission is spent, its token ends
      assertError(
        await holdSeat(api, fan, a.scheduleId, a.seatIds[2]!, a.tokens[0]!),
        401,
        'QUEUE_TOKEN_REVOKED',
      )
      assert.equal(await seatStatus(api, a.scheduleId, a.seatIds[2]!), 'available')
    })

    test('cancelling a hold answers 204, frees the seat for others, and cannot be repeated', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 2)
      const hold = await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)
      const path = `/reservations/${hold.body.id}`
      assert.equal((await api.delete(path, { token: fans[0]!.token })).status, 204)
      assert.equal((await api.get(path, { token: fans[0]!.token })).body.status, 'cancelled')
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'available')
      const schedule = await api.get(`/schedules/${scheduleId}`)
      assert.equal(schedule.body.seats.held, 0)
      assertError(await api.delete(path, { token: fans[0]!.token }), 409, 'RESERVATION_NOT_PAYABLE')
      assert.equal((await holdSeat(api, fans[1]!, scheduleId, seatIds[0]!, tokens[1]!)).status, 201)
      // a cancelled hold cannot be paid
      await charge(api, fans[0]!, 10_000)
      assertError(await pay(api, fans[0]!, hold.body.id, tokens[0]!), 409, 'RESERVATION_NOT_PAYABLE')
    })

    test('a confirmed reservation cannot be cancelled', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 1)
      await charge(api, fans[0]!, 10_000)
      const hold = await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)
      assert.equal((await pay(api, fans[0]!, hold.body.id, tokens[0]!)).status, 201)
      assertError(
        await api.delete(`/reservations/${hold.body.id}`, { token: fans[0]!.token }),
        409,
        'RESERVATION_NOT_PAYABLE',
      )
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'sold')
    })

    test('unknown seats and reservations answer 404; a seat of another schedule is unknown here', async () => {
      const { scheduleId, fans, tokens } = await admitted(t, api, 1)
      const elsewhere = await createSchedule(api, t.adminKey, { seats: 1 })
      assertError(await holdSeat(api, fans[0]!, scheduleId, randomUUID(), tokens[0]!), 404, 'SEAT_NOT_FOUND')
      assertError(
        await holdSeat(api, fans[0]!, scheduleId, elsewhere.seatIds[0]!, tokens[0]!),
        404,
        'SEAT_NOT_FOUND',
      )
      assert.equal(await seatStatus(api, elsewhere.scheduleId, elsewhere.seatIds[0]!), 'available')
      const id = randomUUID()
      assertError(
        await api.get(`/reservations/${id}`, { token: fans[0]!.token }),
        404,
        'RESERVATION_NOT_FOUND',
      )
      assertError(
        await api.delete(`/reservations/${id}`, { token: fans[0]!.token }),
        404,
        'RESERVATION_NOT_FOUND',
      )
    })
  })

  describe(`hold expiry [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'hold_expiry', {
        QUEUE_ADMIT_PER_SECOND: 1000,
        HOLD_TTL_SECONDS: 1,
        MAX_HOLDS_PER_USER: 1,
      })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('a hold past expiresAt reads expired, frees the seat for another fan, and cannot be paid (410)', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 2)
      const [first, second] = fans as [Fan, Fan]
      await charge(api, first, 10_000)
      await charge(api, second, 10_000)
      const hold = await holdSeat(api, first, scheduleId, seatIds[0]!, tokens[0]!)
      assert.equal(hold.status, 201)
      // an untouched second hold of the first fan, to see expiry without a takeover
      const lone = await createSchedule(api, t.adminKey, { seats: 1 })
      const [loneToken] = await admitFans(t, api, lone.scheduleId, [first])

      await sleep(Math.max(0, Date.parse(hold.body.expiresAt) - Date.now()) + 300)
      const read = await api.get(`/reservations/${hold.body.id}`, { token: first.token })
      assert.equal(read.body.status, 'expired')
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'available')
      const schedule = await api.get(`/schedules/${scheduleId}`)
      assert.deepEqual(schedule.body.seats, { total: 10, available: 10, held: 0, sold: 0 })

      // an expired hold no longer counts against MAX_HOLDS_PER_USER=1
      const fresh = await holdSeat(api, first, lone.scheduleId, lone.seatIds[0]!, loneToken!)
      assert.equal(fresh.status, 201, JSON.stringify(fresh.body))
      assert.equal((await api.delete(`/reservations/${fresh.body.id}`, { token: first.token })).status, 204)

      const takeover = await holdSeat(api, second, scheduleId, seatIds[0]!, tokens[1]!)
      assert.equal(takeover.status, 201, JSON.stringify(takeover.body))
      assert.equal(
        (await api.get(`/reservations/${hold.body.id}`, { token: first.token })).body.status,
        'expired',
      )

      assertError(await pay(api, first, hold.body.id, tokens[0]!), 410, 'HOLD_EXPIRED')
      assert.equal(await balanceOf(api, first), 10_000)
      assertError(
        await api.delete(`/reservations/${hold.body.id}`, { token: first.token }),
        409,
        'RESERVATION_NOT_PAYABLE',
      )
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'held')

      const paid = await pay(api, second, takeover.body.id, tokens[1]!)
      assert.equal(paid.status, 201, JSON.stringify(paid.body))
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'sold')
    })

    test('an expired hold nobody took over cannot be paid either (410) and charges nothing', async () => {
      const { scheduleId, seatIds, fans, tokens } = await admitted(t, api, 1)
      await charge(api, fans[0]!, 10_000)
      const hold = await holdSeat(api, fans[0]!, scheduleId, seatIds[0]!, tokens[0]!)
      await sleep(Math.max(0, Date.parse(hold.body.expiresAt) - Date.now()) + 300)
      assertError(await pay(api, fans[0]!, hold.body.id, tokens[0]!), 410, 'HOLD_EXPIRED')
      assert.equal(await balanceOf(api, fans[0]!), 10_000)
      assert.equal(await seatStatus(api, scheduleId, seatIds[0]!), 'available')
    })
  })
}
