import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import {
  adminHeaders,
  assertError,
  balanceOf,
  charge,
  createCoupon,
  createSchedule,
  type Fan,
  grantCoupon,
  holdSeat,
  pay,
  seatStatus,
  signUp,
} from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`refunds [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'refunds', { QUEUE_ADMIT_PER_SECOND: 1000, REFUND_CUTOFF_HOURS: 24 })
      api = new Api(t.url)
    })
    after(() => t.close())

    /** A fan who paid seat 0 of a fresh schedule at `price`, with a fixed coupon of `discount` when given. */
    async function paidSeat(price: number, discount?: number) {
      const fan = await signUp(api, 'refunder')
      await charge(api, fan, 200_000)
      const show = await createSchedule(api, t.adminKey, { seats: 3, price })
      const [queueToken] = await admitFans(t, api, show.scheduleId, [fan])
      let couponId: string | undefined
      if (discount !== undefined) {
        couponId = (await createCoupon(api, t.adminKey, { discountType: 'fixed', discountValue: discount }))
          .id
        assert.equal((await grantCoupon(api, t.adminKey, couponId, fan.id)).status, 201)
      }
      const hold = await holdSeat(api, fan, show.scheduleId, show.seatIds[0]!, queueToken!)
      assert.equal(hold.status, 201, JSON.stringify(hold.body))
      const paid = await pay(api, fan, hold.body.id, queueToken!, couponId ? { couponId } : {})
      assert.equal(paid.status, 201, JSON.stringify(paid.body))
      return { fan, show, couponId, reservationId: hold.body.id as string, receipt: paid.body, queueToken }
    }

    const refundAsFan = (fan: Fan, reservationId: string, body: object = {}) =>
      api.post(`/reservations/${reservationId}/refund`, { token: fan.token, body })
    const refundAsOrganizer = (reservationId: string, body: object = {}) =>
      api.post(`/admin/reservations/${reservationId}/refund`, { headers: adminHeaders(t.adminKey), body })

    async function ledgerOf(fan: Fan) {
      const res = await api.get(`/users/${fan.id}/wallet/ledger`, { token: fan.token })
      return res.body.entries as { amount: number; kind: string; reference: string; balanceAfter: number }[]
    }
    async function couponStatus(fan: Fan, couponId: string) {
      const res = await api.get(`/users/${fan.id}/coupons`, { token: fan.token })
      return res.body.coupons.find((c: { couponId: string }) => c.couponId === couponId).status
    }
    async function refundedEvents(reservationId: string) {
      const rows = await t.app.database.db
        .selectFrom('outbox')
        .select('event')
        .where('topic', '=', 'reservation.refunded')
        .where('key', '=', reservationId)
        .execute()
      return rows.map((r) => (typeof r.event === 'string' ? JSON.parse(r.event) : r.event) as any)
    }

    test('a fan refunds a paid seat: points back once through the ledger, seat on sale, reservation refunded, one event', async () => {
      const p = await paidSeat(30_000, 5_000)
      const before = await balanceOf(api, p.fan)
      const res = await refundAsFan(p.fan, p.reservationId, { reason: 'cannot come' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.headers.get('idempotent-replayed'), null)
      assert.deepEqual(
        { ...res.body, refundedAt: undefined },
        {
          reservationId: p.reservationId,
          paymentId: p.receipt.paymentId,
          scheduleId: p.show.scheduleId,
          seatId: p.show.seatIds[0],
          seatLabel: 'R-1',
          userId: p.fan.id,
          amount: 25_000,
          couponId: p.couponId,
          couponRestored: false,
          refundedBy: 'fan',
          reason: 'cannot come',
          refundedAt: undefined,
        },
      )
      assert.equal(await balanceOf(api, p.fan), before + 25_000)
      const [latest] = await ledgerOf(p.fan)
      assert.deepEqual(
        [latest!.kind, latest!.amount, latest!.reference, latest!.balanceAfter],
        ['refund', 25_000, `refund:${p.reservationId}`, before + 25_000],
      )
      assert.equal(await seatStatus(api, p.show.scheduleId, p.show.seatIds[0]!), 'available')
      const reservation = await api.get(`/reservations/${p.reservationId}`, { token: p.fan.token })
      assert.equal(reservation.body.status, 'refunded')
      assert.equal(await couponStatus(p.fan, p.couponId!), 'used', 'a fan refund leaves the coupon spent')

      // Asking again (the fan, then the organizer) answers the same refund and gives nothing more back.
      const again = await refundAsFan(p.fan, p.reservationId)
      assert.equal(again.status, 200)
      assert.equal(again.headers.get('idempotent-replayed'), 'true')
      assert.deepEqual(again.body, res.body)
      const byOrganizer = await refundAsOrganizer(p.reservationId, { restoreCoupon: true })
      assert.equal(byOrganizer.status, 200)
      assert.deepEqual(byOrganizer.body, res.body)
      assert.equal(await balanceOf(api, p.fan), before + 25_000)
      assert.equal((await ledgerOf(p.fan)).filter((e) => e.kind === 'refund').length, 1)
      assert.equal(await couponStatus(p.fan, p.couponId!), 'used')

      const events = await refundedEvents(p.reservationId)
      assert.equal(events.length, 1)
      assert.equal(events[0].data.concertId, p.show.concertId)
      assert.equal(events[0].data.amount, 25_000)
      assert.equal(events[0].data.refundedBy, 'fan')
    })

    test('concurrent refunds of one reservation give the points back once and all answer the same refund', async () => {
      const p = await paidSeat(40_000)
      const before = await balanceOf(api, p.fan)
      const answers = await Promise.all([
        refundAsFan(p.fan, p.reservationId),
        refundAsOrganizer(p.reservationId),
        refundAsFan(p.fan, p.reservationId),
        refundAsOrganizer(p.reservationId),
      ])
      for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body))
      assert.equal(new Set(answers.map((a) => JSON.stringify(a.body))).size, 1)
      assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === null).length, 1)
      assert.equal(await balanceOf(api, p.fan), before + 40_000)
      assert.equal((await refundedEvents(p.reservationId)).length, 1)
    })

    test('the organizer refunds at any time and restores the coupon unless told not to', async () => {
      const restored = await paidSeat(20_000, 3_000)
      await t.app.database.db
        .updateTable('schedules')
        .set({ starts_at: sql`now() + interval '1 hour'` })
        .where('id', '=', restored.show.scheduleId)
        .execute()
      assertError(await refundAsFan(restored.fan, restored.reservationId), 409, 'REFUND_WINDOW_CLOSED')
      const res = await refundAsOrganizer(restored.reservationId, { reason: 'show moved' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.refundedBy, 'organizer')
      assert.equal(res.body.couponRestored, true)
      assert.equal(res.body.amount, 17_000)
      assert.equal(await couponStatus(restored.fan, restored.couponId!), 'available')

      const kept = await paidSeat(20_000, 3_000)
      const noCoupon = await refundAsOrganizer(kept.reservationId, { restoreCoupon: false })
      assert.equal(noCoupon.status, 200)
      assert.equal(noCoupon.body.couponRestored, false)
      assert.equal(await couponStatus(kept.fan, kept.couponId!), 'used')
    })

    test('only a paid reservation of your own can be refunded; bad input is a 4xx', async () => {
      const fan = await signUp(api)
      await charge(api, fan, 100_000)
      const show = await createSchedule(api, t.adminKey, { seats: 2, price: 1_000 })
      const [queueToken] = await admitFans(t, api, show.scheduleId, [fan])
      const hold = await holdSeat(api, fan, show.scheduleId, show.seatIds[0]!, queueToken!)
      assertError(await refundAsFan(fan, hold.body.id), 409, 'RESERVATION_NOT_REFUNDABLE')
      assertError(await refundAsOrganizer(hold.body.id), 409, 'RESERVATION_NOT_REFUNDABLE')
      assertError(await refundAsFan(fan, randomUUID()), 404, 'RESERVATION_NOT_FOUND')
      assertError(await refundAsOrganizer(randomUUID()), 404, 'RESERVATION_NOT_FOUND')
      assertError(await refundAsFan(fan, 'not-a-uuid'), 400, 'VALIDATION_FAILED')
      assertError(await refundAsOrganizer(hold.body.id, { restoreCoupon: 'yes' }), 400, 'VALIDATION_FAILED')
      assertError(await refundAsFan(fan, hold.body.id, { reason: '' }), 400, 'VALIDATION_FAILED')
      assertError(await refundAsFan(fan, hold.body.id, { extra: 1 }), 400, 'VALIDATION_FAILED')

      const other = await paidSeat(1_000)
      assertError(await refundAsFan(fan, other.reservationId), 403, 'FORBIDDEN')
      assertError(
        await api.post(`/reservations/${other.reservationId}/refund`, { body: {} }),
        401,
        'UNAUTHENTICATED',
      )
      assertError(
        await api.post(`/admin/reservations/${other.reservationId}/refund`, { body: {} }),
        401,
        'ADMIN_KEY_INVALID',
      )
    })

    test('a refunded seat can be bought again by another fan', async () => {
      const p = await paidSeat(10_000)
      assert.equal((await refundAsFan(p.fan, p.reservationId)).status, 200)
      const next = await signUp(api, 'next')
      await charge(api, next, 50_000)
      const [queueToken] = await admitFans(t, api, p.show.scheduleId, [next])
      const hold = await holdSeat(api, next, p.show.scheduleId, p.show.seatIds[0]!, queueToken!)
      assert.equal(hold.status, 201, JSON.stringify(hold.body))
      assert.equal((await pay(api, next, hold.body.id, queueToken!)).status, 201)
      assert.equal(await seatStatus(api, p.show.scheduleId, p.show.seatIds[0]!), 'sold')
    })
  })
}
