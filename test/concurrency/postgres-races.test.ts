import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { Api } from '../support/api-client.ts'
import { type SeededFan, seedAdmittedFans } from '../support/fans.ts'
import { createSchedule } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// Races are settled by PostgreSQL row locks and conditional updates; they run against the real server.
describe('races on real PostgreSQL', () => {
  const secret = randomBytes(32).toString('hex')
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp(
      'postgres',
      'races',
      { AUTH_SECRET: secret, MAX_HOLDS_PER_USER: 100, DB_POOL_SIZE: 40 },
      { poolSize: 40 },
    )
    api = new Api(t.url)
  })
  after(() => t.close())
  const db = () => t.app.database.db

  async function fansFor(scheduleId: string, count: number, points: number): Promise<SeededFan[]> {
    return seedAdmittedFans(db(), { count, points, secret, scheduleId })
  }

  const hold = (fan: SeededFan, scheduleId: string, seatId: string) =>
    api.post(`/schedules/${scheduleId}/seats/${seatId}/hold`, {
      token: fan.token,
      headers: { 'x-queue-token': fan.queueToken },
    })
  const pay = (fan: SeededFan, reservationId: string, key: string, body: object = {}) =>
    api.post(`/reservations/${reservationId}/payment`, {
      token: fan.token,
      headers: { 'x-queue-token': fan.queueToken, 'idempotency-key': key },
      body,
    })

  test('1,000 concurrent holds on one seat: exactly one winner, 999 fast 409s', async () => {
    const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 1 })
    const fans = await fansFor(scheduleId, 1000, 0)
    const results = await Promise.all(fans.map((f) => hold(f, scheduleId, seatIds[0]!)))
    const statuses = results.map((r) => r.status)
    assert.equal(statuses.filter((s) => s === 201).length, 1)
    assert.equal(statuses.filter((s) => s === 409).length, 999)
    assert.ok(results.filter((r) => r.status === 409).every((r) => r.body.code === 'SEAT_ALREADY_HELD'))
    const winner = results.find((r) => r.status === 201)!.body
    const seat = await db()
      .selectFrom('seats')
      .selectAll()
      .where('id', '=', seatIds[0]!)
      .executeTakeFirstOrThrow()
    assert.equal(seat.status, 'held')
    assert.equal(seat.reservation_id, winner.id)
    const reservations = await db()
      .selectFrom('reservations')
      .select('id')
      .where('seat_id', '=', seatIds[0]!)
      .execute()
    assert.deepEqual(
      reservations.map((r) => r.id),
      [winner.id],
    )
  })

  test('200 concurrent payments of one reservation charge once', async () => {
    const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 1, price: 70_000 })
    const [fan] = await fansFor(scheduleId, 1, 100_000)
    const held = await hold(fan!, scheduleId, seatIds[0]!)
    assert.equal(held.status, 201)
    const sharedKey = randomUUID()
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => pay(fan!, held.body.id, i % 2 === 0 ? sharedKey : randomUUID())),
    )
    const ok = results.filter((r) => r.status === 201)
    assert.ok(ok.length >= 1)
    assert.equal(new Set(ok.map((r) => r.body.paymentId)).size, 1, 'one payment id across all successes')
    // Requests sharing a key wait for the first of them: all replay its success, or all see the seat paid.
    const shared = results.filter((_, i) => i % 2 === 0).map((r) => r.status)
    assert.ok(
      shared.every((s) => s === 201) || shared.every((s) => s === 409),
      `shared-key answers are all-or-nothing: ${[...new Set(shared)]}`,
    )
    assert.ok(
      results
        .filter((r) => r.status !== 201)
        .every((r) => r.status === 409 && r.body.code === 'RESERVATION_NOT_PAYABLE'),
    )
    const ledger = await db()
      .selectFrom('wallet_ledger')
      .select(['amount', 'kind'])
      .where('user_id', '=', fan!.id)
      .where('kind', '=', 'payment')
      .execute()
    assert.deepEqual(ledger, [{ amount: -70_000, kind: 'payment' }])
    const wallet = await db()
      .selectFrom('wallets')
      .select('balance')
      .where('user_id', '=', fan!.id)
      .executeTakeFirstOrThrow()
    assert.equal(wallet.balance, 30_000)
    const payments = await db()
      .selectFrom('payments')
      .select('id')
      .where('reservation_id', '=', held.body.id)
      .execute()
    assert.equal(payments.length, 1)
  })

  test('concurrent charges and payments keep the ledger exact and the balance non-negative', async () => {
    const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 40, price: 10_000 })
    const [fan] = await fansFor(scheduleId, 1, 50_000)
    const holds = await Promise.all(seatIds.map((seatId) => hold(fan!, scheduleId, seatId)))
    assert.ok(holds.every((h) => h.status === 201))
    const charges = Array.from({ length: 30 }, () =>
      api.post(`/users/${fan!.id}/wallet/charges`, {
        token: fan!.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { amount: 5_000 },
      }),
    )
    const payments = holds.map((h) => pay(fan!, h.body.id, randomUUID()))
    const [chargeResults, paymentResults] = await Promise.all([Promise.all(charges), Promise.all(payments)])
    assert.ok(chargeResults.every((r) => r.status === 201))
    const paid = paymentResults.filter((r) => r.status === 201).length
    const refused = paymentResults.filter(
      (r) => r.status === 402 && r.body.code === 'INSUFFICIENT_POINTS',
    ).length
    assert.equal(paid + refused, 40, 'every payment either succeeds or is refused for points')
    const funds = 50_000 + 30 * 5_000
    assert.ok(paid >= 5 && paid <= funds / 10_000, `paid ${paid}`)

    const wallet = await db()
      .selectFrom('wallets')
      .select('balance')
      .where('user_id', '=', fan!.id)
      .executeTakeFirstOrThrow()
    const sum = await db()
      .selectFrom('wallet_ledger')
      .select(sql<number>`coalesce(sum(amount), 0)::int`.as('total'))
      .where('user_id', '=', fan!.id)
      .executeTakeFirstOrThrow()
    assert.equal(wallet.balance, sum.total, 'the ledger sums to the balance')
    assert.equal(wallet.balance, funds - paid * 10_000)
    assert.ok(wallet.balance >= 0)
    const sold = await db()
      .selectFrom('seats')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('schedule_id', '=', scheduleId)
      .where('status', '=', 'sold')
      .executeTakeFirstOrThrow()
    assert.equal(sold.n, paid, 'one sold seat per successful payment')
  })

  test('a hold expiring while its payment is in flight is never both paid and taken by someone else', async () => {
    // Short holds: payments and takeovers fire across the deadline, on many seats at once.
    const short = await startTestApp(
      'postgres',
      'races_expiry',
      { AUTH_SECRET: secret, HOLD_TTL_SECONDS: 3, DB_POOL_SIZE: 40 },
      { poolSize: 40 },
    )
    try {
      const shortApi = new Api(short.url)
      const { scheduleId, seatIds } = await createSchedule(shortApi, short.adminKey, {
        seats: 60,
        price: 1_000,
      })
      const fans = await seedAdmittedFans(short.app.database.db, {
        count: 120,
        points: 10_000,
        secret,
        scheduleId,
      })
      const holders = fans.slice(0, 60)
      const rivals = fans.slice(60)
      const holds = await Promise.all(
        holders.map((f, i) =>
          shortApi.post(`/schedules/${scheduleId}/seats/${seatIds[i]}/hold`, {
            token: f.token,
            headers: { 'x-queue-token': f.queueToken },
          }),
        ),
      )
      assert.ok(holds.every((h) => h.status === 201))
      // Payments from 600 ms before to 300 ms after each hold's own deadline, takeovers from the deadline on (the
      // holds of a loaded machine are not all taken in the same instant, and its requests take a while to land).
      const attempts: Promise<{ status: number; body: any }>[] = []
      for (let i = 0; i < 60; i++) {
        const deadline = new Date(holds[i]!.body.expiresAt).getTime()
        const offset = -600 + ((i * 15) % 900)
        const at = deadline + offset - Date.now()
        attempts.push(
          new Promise((resolve) => setTimeout(resolve, Math.max(0, at))).then(() =>
            shortApi.post(`/reservations/${holds[i]!.body.id}/payment`, {
              token: holders[i]!.token,
              headers: { 'x-queue-token': holders[i]!.queueToken, 'idempotency-key': randomUUID() },
              body: {},
            }),
          ),
        )
        for (const delay of [0, 20, 60, 120, 200]) {
          attempts.push(
            new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now() + delay))).then(
              () =>
                shortApi.post(`/schedules/${scheduleId}/seats/${seatIds[i]}/hold`, {
                  token: rivals[i]!.token,
                  headers: { 'x-queue-token': rivals[i]!.queueToken },
                }),
            ),
          )
        }
      }
      const outcomes = await Promise.all(attempts)
      assert.ok(
        outcomes.every((o) => [201, 409, 410].includes(o.status)),
        `unexpected: ${JSON.stringify(outcomes.find((o) => ![201, 409, 410].includes(o.status)))}`,
      )
      const sdb = short.app.database.db
      const seats = await sdb.selectFrom('seats').selectAll().where('schedule_id', '=', scheduleId).execute()
      // Compared by PostgreSQL in microseconds: as JavaScript Dates (milliseconds), a payment in the hold's last
      // millisecond reads as paid at its deadline.
      const reservations = await sdb
        .selectFrom('reservations')
        .selectAll()
        .select(sql<boolean>`confirmed_at < expires_at`.as('paid_in_time'))
        .where('schedule_id', '=', scheduleId)
        .execute()
      let paid = 0
      for (const seat of seats) {
        const mine = reservations.filter((r) => r.seat_id === seat.id)
        const confirmed = mine.filter((r) => r.status === 'confirmed')
        const live = mine.filter((r) => r.status === 'held')
        assert.ok(confirmed.length <= 1, 'at most one sale per seat')
        if (confirmed.length === 1) {
          paid++
          assert.equal(seat.status, 'sold')
          assert.equal(seat.reservation_id, confirmed[0]!.id)
          assert.equal(live.length, 0, 'a sold seat has no other live hold')
          assert.ok(confirmed[0]!.paid_in_time, 'paid before its deadline')
        } else {
          assert.notEqual(seat.status, 'sold')
          assert.ok(live.length <= 1)
          if (seat.status === 'held') assert.equal(seat.reservation_id, live[0]?.id)
        }
      }
      const payments = await sdb
        .selectFrom('payments')
        .select(sql<number>`count(*)::int`.as('n'))
        .executeTakeFirstOrThrow()
      assert.equal(payments.n, paid)
      const paidOk = outcomes.filter((o) => o.status === 201 && o.body.paymentId).length
      assert.equal(paidOk, paid, 'every 201 payment is a sold seat')
      assert.ok(paid > 0 && paid < 60, `the deadline split the payments (paid ${paid})`)
    } finally {
      await short.close()
    }
  })
})
