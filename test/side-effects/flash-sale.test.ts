// The flash sale end to end (the acceptance scenario): 1,000 fans enter the waiting room and are admitted in the
// order they entered; they race for 50 seats (exactly 50 winners); the winners rush for 10 first-come coupons;
// 30 winners pay (the 10 coupon holders with their coupon) while the data platform is down; the other 20 holds
// expire. Afterwards every side effect is there exactly once: 30 records at the data platform, an inbox notification
// and a webhook call for every event, rankings at 30 sold, and no dead letter of this run.
// Runs on the embedded log (real PostgreSQL) and on Kafka.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { Pool } from 'undici'
import { seedAdmittedFans } from '../support/fans.ts'
import { type Buyer, createCoupon, createSchedule, inbox, pay } from '../support/flows.ts'
import {
  counterValue,
  deadLettersOf,
  mapLimit,
  quiesce,
  report,
  startApp,
  targets,
  waitFor,
} from './support/harness.ts'
import { Receiver } from './support/receiver.ts'

const FANS = 1000
const SEATS = 50
const COUPONS = 10
const PAYERS = 30
const PRICE = 100_000
const DISCOUNT = 20_000
const POINTS = 150_000
const HOLD_TTL_SECONDS = 20

for (const target of targets()) {
  describe(`flash sale end to end on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test(`${FANS} fans, ${SEATS} seats, ${PAYERS} paid, ${SEATS - PAYERS} expired: every side effect once, through a data-platform outage`, async (t) => {
      const began = performance.now()
      const phases: Record<string, number> = {}
      let mark = performance.now()
      const phase = (name: string) => {
        phases[name] = Math.round(performance.now() - mark)
        mark = performance.now()
      }

      const platform = await Receiver.start()
      const webhook = await Receiver.start()
      t.after(() => Promise.all([platform.close(), webhook.close()]))
      const app = await startApp(target, 'flash_sale', {
        HOLD_TTL_SECONDS,
        QUEUE_MAX_ACTIVE: FANS,
        QUEUE_ADMIT_PER_SECOND: 200,
        QUEUE_TICK_MS: 60_000, // admission rounds are driven by the test
        DATA_PLATFORM_URL: platform.url('/ingest/reservations'),
        DATA_PLATFORM_AUTH_HEADER: 'X-Api-Key: flash-sale-test',
        DATA_PLATFORM_TIMEOUT_MS: 1000,
        NOTIFY_WEBHOOK_URL: webhook.url('/notify'),
        // ~8 s of retries: longer than the data-platform outage below
        RETRY_DELAYS_MS: '1000,2000,4000',
      })
      t.after(() => app.close())
      const admin = { 'x-admin-key': app.adminKey }

      const show = await createSchedule(app.api, app.adminKey, { seats: SEATS, price: PRICE })
      const coupon = await createCoupon(app.api, app.adminKey, {
        name: 'Flash 20k',
        totalQuantity: COUPONS,
        discountValue: DISCOUNT,
      })
      const seeded = await seedAdmittedFans(app.db, {
        count: FANS,
        points: POINTS,
        secret: app.secret,
        scheduleId: show.scheduleId,
        admit: false,
      })
      // Queue tokens come from the waiting room, not from the seed.
      const fans: Buyer[] = seeded.map((f) => ({ id: f.id, token: f.token, queueToken: '' }))
      const users = new Set(fans.map((f) => f.id))
      phase('setup')

      // 1. The sale opens (the first admission round), then 1,000 fans enter in waves of 20 at once: a wave's fans
      //    are placed behind everyone of the waves before, and the places are 1..1,000 without gap or repeat.
      await app.app.admission.tick()
      assert.equal(
        (await app.api.get(`/admin/schedules/${show.scheduleId}/queue`, { headers: admin })).body.opened,
        true,
      )
      const placeOf = new Map<string, number>()
      const WAVE = 20
      for (let from = 0; from < FANS; from += WAVE) {
        const wave = fans.slice(from, from + WAVE)
        const places = await Promise.all(
          wave.map(async (fan) => {
            const entered = await app.api.post(`/schedules/${show.scheduleId}/queue`, { token: fan.token })
            assert.equal(entered.status, 201)
            return entered.body.position as number
          }),
        )
        for (const [i, fan] of wave.entries()) placeOf.set(fan.id, places[i]!)
        assert.ok(Math.min(...places) > from, 'placed behind every earlier wave')
      }
      assert.deepEqual(
        [...placeOf.values()].sort((a, b) => a - b),
        Array.from({ length: FANS }, (_, i) => i + 1),
      )
      const entryOrder = [...fans].sort((a, b) => placeOf.get(a.id)! - placeOf.get(b.id)!)
      phase('enter')

      // 2. Admission rounds at 200 fans/s: each round admits the next fans in entry order, never one out of turn.
      const rounds: string[][] = []
      let admitted = 0
      while (admitted < FANS && rounds.length < 500) {
        const round = await app.app.admission.tick()
        assert.ok(round.ran, 'this instance runs admission')
        const ids = round.admitted
          .filter((a) => a.scheduleId === show.scheduleId)
          .sort((x, y) => x.seq - y.seq)
          .map((a) => a.userId)
        if (ids.length > 0) rounds.push(ids)
        admitted += ids.length
        await sleep(100)
      }
      assert.equal(admitted, FANS)
      assert.ok(rounds.length > 2, `admitted over several rounds (${rounds.length})`)
      let next = 0
      for (const round of rounds) {
        assert.deepEqual(
          round,
          entryOrder.slice(next, next + round.length).map((f) => f.id),
          'a round admits exactly the next fans in entry order',
        )
        next += round.length
      }
      const order = await sql<{ user_id: string }>`select user_id from queue_entries
        where schedule_id = ${show.scheduleId} order by admitted_at, seq`.execute(app.db)
      assert.deepEqual(
        order.rows.map((r) => r.user_id),
        entryOrder.map((f) => f.id),
        'admission order equals entry order',
      )
      await mapLimit(fans, 50, async (fan) => {
        const me = await app.api.get(`/schedules/${show.scheduleId}/queue/me`, { token: fan.token })
        assert.equal(me.body.status, 'admitted')
        fan.queueToken = me.body.token
      })
      phase('admit')

      // 3. The race: every admitted fan tries a seat (20 fans per seat); exactly one wins each seat.
      const pool = new Pool(app.url, { connections: 100, pipelining: 1 })
      t.after(() => pool.close())
      const attempts = await mapLimit(fans, 100, async (fan, i) => {
        const seat = show.seats[i % SEATS]!
        const res = await pool.request({
          method: 'POST',
          path: `/schedules/${show.scheduleId}/seats/${seat.id}/hold`,
          headers: { authorization: `Bearer ${fan.token}`, 'x-queue-token': fan.queueToken },
        })
        return { fan, seat, status: res.statusCode, body: (await res.body.json()) as any }
      })
      const winners = attempts.filter((a) => a.status === 201)
      const losers = attempts.filter((a) => a.status !== 201)
      assert.equal(winners.length, SEATS, 'exactly 50 winners')
      assert.equal(new Set(winners.map((w) => w.seat.id)).size, SEATS, 'one winner per seat')
      assert.ok(
        losers.every((l) => l.status === 409 && l.body.code === 'SEAT_ALREADY_HELD'),
        'every loser gets a clear 409',
      )
      phase('race')

      // 4. The winners rush for 10 first-come coupons.
      const asked = await mapLimit(winners, 50, async (w) => {
        const res = await app.api.post(`/coupons/${coupon.id}/requests`, { token: w.fan.token })
        assert.equal(res.status, 202)
        return { winner: w, requestId: res.body.requestId as string }
      })
      const decided = await waitFor('every coupon request decided', async () => {
        const rows = await app.db
          .selectFrom('coupon_requests')
          .select(['id', 'status', 'reason'])
          .where('coupon_id', '=', coupon.id)
          .execute()
        return (
          rows.length === SEATS &&
          rows.every((r) => r.status !== 'pending') &&
          new Map(rows.map((r) => [r.id, r]))
        )
      })
      const couponHolders = asked
        .filter((a) => decided.get(a.requestId)!.status === 'issued')
        .map((a) => a.winner)
      assert.equal(couponHolders.length, COUPONS)
      assert.ok(
        asked.every(
          (a) =>
            decided.get(a.requestId)!.status === 'issued' || decided.get(a.requestId)!.reason === 'SOLD_OUT',
        ),
      )
      phase('coupons')

      // 5. 30 winners pay (the coupon holders with their coupon) while the data platform is down.
      const others = winners.filter((w) => !couponHolders.includes(w))
      const payers = [...couponHolders, ...others.slice(0, PAYERS - COUPONS)]
      const unpaid = others.slice(PAYERS - COUPONS)
      await platform.setMode('down')
      const retriedBefore = await counterValue(app, 'events_retried_total', { group: 'data-platform' })
      const payments = await mapLimit(payers, 10, async (w) => {
        const withCoupon = couponHolders.includes(w)
        const started = performance.now()
        const res = await pay(
          app.api,
          w.fan,
          w.body.id,
          w.fan.queueToken,
          withCoupon ? { couponId: coupon.id } : {},
        )
        return { w, withCoupon, res, ms: performance.now() - started }
      })
      for (const p of payments) {
        assert.equal(p.res.status, 201, `payment ${JSON.stringify(p.res.body)}`)
        assert.equal(p.res.body.amount, p.withCoupon ? PRICE - DISCOUNT : PRICE)
        assert.equal(p.res.body.balance, POINTS - p.res.body.amount)
      }
      const slowestPaymentMs = Math.max(...payments.map((p) => p.ms))
      await waitFor(
        'the records of the payments waiting on the retry topics',
        async () =>
          (await counterValue(app, 'events_retried_total', { group: 'data-platform' })) >=
          retriedBefore + PAYERS,
        { timeoutMs: 20_000 },
      )
      await sleep(1000)
      const reservationIds = new Set(winners.map((w) => w.body.id as string))
      const ofRun = (r: { body?: any }) => reservationIds.has(r.body?.reservationId)
      assert.equal(platform.requestsWhere(ofRun).length, 0, 'nothing reached the platform while it was down')
      await platform.setMode('ok')
      phase('pay')

      // 6. The unpaid holds lapse and are released.
      const paidIds = new Set(payers.map((w) => w.body.id as string))
      const statuses = async () =>
        (
          await sql<{ status: string; n: number }>`select status, count(*)::int as n from reservations
            where schedule_id = ${show.scheduleId} group by status order by status`.execute(app.db)
        ).rows
      await waitFor(
        'the unpaid holds expired',
        async () => (await statuses()).every((r) => r.status !== 'held'),
        {
          timeoutMs: HOLD_TTL_SECONDS * 1000 + 30_000,
          intervalMs: 250,
          describe: statuses,
        },
      )
      assert.deepEqual(await statuses(), [
        { status: 'confirmed', n: PAYERS },
        { status: 'expired', n: SEATS - PAYERS },
      ])
      phase('expire')

      // 7. Every side effect arrives: data platform, inboxes, webhook, rankings.
      const expectedKinds = {
        'coupon-issued': COUPONS,
        'coupon-rejected': SEATS - COUPONS,
        'payment-confirmed': PAYERS,
        'queue-admitted': FANS,
        'reservation-expired': SEATS - PAYERS,
        'reservation-held': SEATS,
      }
      const total = Object.values(expectedKinds).reduce((a, b) => a + b, 0)
      const mineAtPlatform = () => platform.recordsWhere(ofRun)
      const hooksOfRun = () => webhook.recordsWhere((r) => users.has(r.body?.userId))
      const inboxKinds = async () =>
        Object.fromEntries(
          (
            await sql<{ kind: string; n: number }>`select kind, count(*)::int as n from notifications
              where user_id in (select user_id from queue_entries where schedule_id = ${show.scheduleId})
              group by kind order by kind`.execute(app.db)
          ).rows.map((r) => [r.kind, r.n]),
        )
      await waitFor(
        'every side effect delivered',
        async () => mineAtPlatform().length === PAYERS && hooksOfRun().length === total,
        {
          timeoutMs: 120_000,
          intervalMs: 250,
          describe: async () => ({
            platform: mineAtPlatform().length,
            webhook: hooksOfRun().length,
            inbox: await inboxKinds(),
          }),
        },
      )
      await quiesce(app, { timeoutMs: 120_000 })
      phase('settle')

      // Data platform: each paid reservation once, though every one of them first met a closed port.
      assert.deepEqual(new Set(mineAtPlatform().map((r) => r.body.reservationId)), paidIds)
      assert.equal(mineAtPlatform().length, PAYERS)
      assert.ok(mineAtPlatform().every((r) => r.headers['x-api-key'] === 'flash-sale-test'))
      const confirmedEvents = await app.db
        .selectFrom('notifications')
        .select('event_id')
        .where('kind', '=', 'payment-confirmed')
        .where(
          'user_id',
          'in',
          payers.map((w) => w.fan.id),
        )
        .execute()
      assert.deepEqual(
        new Set(mineAtPlatform().map((r) => r.key)),
        new Set(confirmedEvents.map((e) => e.event_id)),
        'keyed by the reservation.confirmed event ids',
      )

      // Inboxes and the webhook sink: one notification per event, delivered once.
      assert.deepEqual(await inboxKinds(), expectedKinds)
      const hooks = hooksOfRun()
      const hookKinds: Record<string, number> = {}
      for (const h of hooks) hookKinds[h.body.kind] = (hookKinds[h.body.kind] ?? 0) + 1
      assert.deepEqual(
        Object.fromEntries(Object.entries(hookKinds).sort(([a], [b]) => a.localeCompare(b))),
        expectedKinds,
      )
      assert.equal(new Set(hooks.map((h) => h.body.id)).size, total, 'one webhook call per notification')
      const sampleInbox = async (fan: Buyer) => (await inbox(app.api, fan)).map((n: any) => n.kind).sort()
      for (const w of payers.slice(0, 12)) {
        const result = couponHolders.includes(w) ? 'coupon-issued' : 'coupon-rejected'
        assert.deepEqual(
          await sampleInbox(w.fan),
          [result, 'payment-confirmed', 'queue-admitted', 'reservation-held'].sort(),
        )
      }
      for (const w of unpaid.slice(0, 5)) {
        assert.deepEqual(await sampleInbox(w.fan), [
          'coupon-rejected',
          'queue-admitted',
          'reservation-expired',
          'reservation-held',
        ])
      }
      for (const l of losers.slice(0, 5)) assert.deepEqual(await sampleInbox(l.fan), ['queue-admitted'])
      const confirmedInbox = (await inbox(app.api, payers[0]!.fan)).find(
        (n: any) => n.kind === 'payment-confirmed',
      )
      assert.equal(confirmedInbox.data.concertTitle, show.title)
      assert.equal(confirmedInbox.data.amount, PRICE - DISCOUNT)
      assert.equal(confirmedInbox.data.seatLabel, payers[0]!.seat.label)

      // Rankings, seats, coupons, wallets agree.
      const ranking = await app.api.get(`/rankings/schedules/${show.scheduleId}`)
      assert.deepEqual(ranking.body, {
        scheduleId: show.scheduleId,
        soldCount: PAYERS,
        totalSeats: SEATS,
        soldOutAt: null,
      })
      const top = await app.api.get('/rankings/concerts?limit=100')
      assert.equal(top.body.concerts.find((c: any) => c.concertId === show.concertId)?.soldCount, PAYERS)
      const seats = await sql<{ status: string; n: number }>`select status, count(*)::int as n from seats
        where schedule_id = ${show.scheduleId} group by status order by status`.execute(app.db)
      assert.deepEqual(seats.rows, [
        { status: 'available', n: SEATS - PAYERS },
        { status: 'sold', n: PAYERS },
      ])
      const used = await sql<{ n: number }>`select count(*)::int as n from user_coupons
        where coupon_id = ${coupon.id} and status = 'used'`.execute(app.db)
      assert.equal(used.rows[0]!.n, COUPONS)

      // Nothing of this run in the dead letters (on a shared Kafka cluster other runs' leftovers may be there).
      assert.deepEqual(await deadLettersOf(app, users), [])

      const seconds = Math.round((performance.now() - began) / 100) / 10
      report(`flash-sale ${target.kind}`, {
        seconds,
        phasesMs: phases,
        admissionRounds: rounds.length,
        slowestPaymentMsWhilePlatformDown: Math.round(slowestPaymentMs),
        platformRequests: platform.requestsWhere(ofRun).length,
        webhookCalls: hooks.length,
      })
    })
  })
}
