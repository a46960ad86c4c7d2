// First-come coupons under a rush: 10,000 distinct fans ask for a coupon of 100 over real HTTP, 200 requests in
// flight. Each is answered 202 at once with a request id; the issuance consumer decides them in arrival order: exactly
// 100 issued, 9,900 rejected as sold out, never over-issued, one per user; asking again returns the first request.
// Prints how long until every request was decided. Runs on the embedded log (real PostgreSQL) and on Kafka.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { Pool } from 'undici'
import { seedAdmittedFans } from '../support/fans.ts'
import { createCoupon } from '../support/flows.ts'
import {
  deadLettersOf,
  mapLimit,
  percentile,
  quiesce,
  report,
  startApp,
  targets,
  waitFor,
} from './support/harness.ts'

// 30 fans for each coupon in npm test; COUPON_RUSH_FANS=10000 for the seed's full rush.
const FANS = Number(process.env.COUPON_RUSH_FANS ?? 3_000)
const STOCK = 100
const IN_FLIGHT = 200

for (const target of targets()) {
  describe(`first-come coupons on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test(`${FANS} requests for ${STOCK} coupons: all answered at once, exactly ${STOCK} issued, the rest sold out`, async (t) => {
      const app = await startApp(target, 'coupons')
      t.after(() => app.close())
      const coupon = await createCoupon(app.api, app.adminKey, {
        name: `Rush ${randomUUID().slice(0, 6)}`,
        totalQuantity: STOCK,
      })
      const fans = await seedAdmittedFans(app.db, {
        count: FANS,
        points: 0,
        secret: app.secret,
        scheduleId: randomUUID(),
      })

      const pool = new Pool(app.url, { connections: IN_FLIGHT, pipelining: 1 })
      t.after(() => pool.close())
      const ask = async (token: string) => {
        const started = performance.now()
        const res = await pool.request({
          method: 'POST',
          path: `/coupons/${coupon.id}/requests`,
          headers: { authorization: `Bearer ${token}` },
        })
        const body = (await res.body.json()) as any
        return { status: res.statusCode, body, ms: performance.now() - started }
      }
      // Warm-up on reads so the rush meets a warm server.
      await mapLimit(Array.from({ length: 300 }), 100, async () => {
        const res = await pool.request({ method: 'GET', path: '/health' })
        await res.body.dump()
      })

      const rushStarted = performance.now()
      const answers = await mapLimit(fans, IN_FLIGHT, (fan) => ask(fan.token))
      const answeredMs = performance.now() - rushStarted
      const wrong = answers.filter((a) => a.status !== 202 || typeof a.body.requestId !== 'string')
      assert.deepEqual(
        wrong.slice(0, 5),
        [],
        `every POST answers 202 with a request id (${wrong.length} did not)`,
      )
      assert.equal(new Set(answers.map((a) => a.body.requestId)).size, FANS, 'one request per fan')
      answers.forEach((a, i) => {
        assert.equal(a.body.userId, fans[i]!.id)
        assert.equal(a.body.couponId, coupon.id)
      })

      const pending = async () =>
        (
          await sql<{ n: number }>`select count(*)::int as n from coupon_requests
            where coupon_id = ${coupon.id} and status = 'pending'`.execute(app.db)
        ).rows[0]!.n
      await waitFor('every request decided', async () => (await pending()) === 0, {
        timeoutMs: 120_000,
        intervalMs: 50,
        describe: async () => ({ pending: await pending() }),
      })
      const decidedMs = performance.now() - rushStarted

      const outcome = await sql<{ status: string; reason: string | null; n: number }>`
        select status, reason, count(*)::int as n from coupon_requests where coupon_id = ${coupon.id}
        group by status, reason order by status`.execute(app.db)
      assert.deepEqual(outcome.rows, [
        { status: 'issued', reason: null, n: STOCK },
        { status: 'rejected', reason: 'SOLD_OUT', n: FANS - STOCK },
      ])
      const stock = await app.db
        .selectFrom('coupons')
        .select(['issued_count', 'total_quantity'])
        .where('id', '=', coupon.id)
        .executeTakeFirstOrThrow()
      assert.deepEqual(stock, { issued_count: STOCK, total_quantity: STOCK }, 'never over-issued')
      const owned = await sql<{ n: number; users: number }>`
        select count(*)::int as n, count(distinct user_id)::int as users from user_coupons
        where coupon_id = ${coupon.id}`.execute(app.db)
      assert.deepEqual(owned.rows[0], { n: STOCK, users: STOCK }, 'one coupon per user')
      const linked = await sql<{ n: number }>`
        select count(*)::int as n from coupon_requests r join user_coupons u on u.id = r.user_coupon_id
        where r.coupon_id = ${coupon.id} and r.status = 'issued' and u.user_id = r.user_id`.execute(app.db)
      assert.equal(linked.rows[0]!.n, STOCK, 'each issued request points at its user coupon')
      const admin = await app.api.get(`/admin/coupons/${coupon.id}`, {
        headers: { 'x-admin-key': app.adminKey },
      })
      assert.equal(admin.body.issuedCount, STOCK)

      // Fairness, reported: how many of the first 100 arrivals (by sequence) won.
      const firstArrivals = await sql<{ n: number }>`
        select count(*)::int as n from (select status from coupon_requests where coupon_id = ${coupon.id}
          order by seq limit ${STOCK}) f where f.status = 'issued'`.execute(app.db)

      // Asking again returns the first request (200), decided; a fan reads their own outcome.
      const sample = [...fans.slice(0, 10), ...fans.slice(-10)]
      for (const fan of sample) {
        const first = answers[fans.indexOf(fan)]!.body
        const again = await app.api.post(`/coupons/${coupon.id}/requests`, { token: fan.token })
        assert.equal(again.status, 200)
        assert.equal(again.body.requestId, first.requestId)
        assert.notEqual(again.body.status, 'pending')
        const read = await app.api.get(`/coupon-requests/${first.requestId}`, { token: fan.token })
        assert.equal(read.status, 200)
        assert.equal(read.body.status, again.body.status)
        if (read.body.status === 'rejected') assert.equal(read.body.reason, 'SOLD_OUT')
        const mine = await app.api.get(`/users/${fan.id}/coupons`, { token: fan.token })
        assert.equal(mine.body.coupons.length, read.body.status === 'issued' ? 1 : 0)
      }
      const stillOne = await sql<{ n: number }>`select count(*)::int as n from coupon_requests
        where coupon_id = ${coupon.id}`.execute(app.db)
      assert.equal(stillOne.rows[0]!.n, FANS)

      // The coupon results go on to the inboxes; settle them before the app stops.
      await quiesce(app, { timeoutMs: 180_000 })
      assert.deepEqual(await deadLettersOf(app, new Set(fans.map((f) => f.id))), [])

      const latencies = answers.map((a) => a.ms).sort((x, y) => x - y)
      report(`coupons ${target.kind}`, {
        requests: FANS,
        inFlight: IN_FLIGHT,
        allAnsweredMs: Math.round(answeredMs),
        postLatencyMs: {
          p50: Math.round(percentile(latencies, 50)),
          p99: Math.round(percentile(latencies, 99)),
        },
        allDecidedMs: Math.round(decidedMs),
        issuedAmongFirst100Arrivals: firstArrivals.rows[0]!.n,
      })
    })
  })
}
