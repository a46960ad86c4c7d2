import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
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
  myTicket,
  pay,
  seatStatus,
  signUp,
} from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`payment [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'payment', { QUEUE_ADMIT_PER_SECOND: 1000 })
      api = new Api(t.url)
    })
    after(() => t.close())

    /** One admitted fan with `points`, holding seat 0 of a fresh schedule at `price`. */
    async function heldSeat(price: number, points: number) {
      const fan = await signUp(api, 'payer')
      if (points > 0) await charge(api, fan, points)
      const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 5, price })
      const [queueToken] = await admitFans(t, api, scheduleId, [fan])
      const hold = await holdSeat(api, fan, scheduleId, seatIds[0]!, queueToken!)
      assert.equal(hold.status, 201, JSON.stringify(hold.body))
      return { fan, scheduleId, seatIds, queueToken: queueToken!, reservationId: hold.body.id as string }
    }

    async function couponFor(fan: Fan, discountType: 'fixed' | 'percent', discountValue: number) {
      const coupon = await createCoupon(api, t.adminKey, { discountType, discountValue })
      assert.equal((await grantCoupon(api, t.adminKey, coupon.id, fan.id)).status, 201)
      return coupon.id
    }

    async function ownedCoupon(fan: Fan, couponId: string) {
      const res = await api.get(`/users/${fan.id}/coupons`, { token: fan.token })
      return res.body.coupons.find((c: { couponId: string }) => c.couponId === couponId)
    }

    async function ledgerOf(fan: Fan) {
      const res = await api.get(`/users/${fan.id}/wallet/ledger`, { token: fan.token })
      return res.body.entries as { amount: number; kind: string; balanceAfter: number }[]
    }

    test('paying without a coupon takes the price, sells the seat, confirms the reservation', async () => {
      const h = await heldSeat(50_000, 80_000)
      const res = await pay(api, h.fan, h.reservationId, h.queueToken)
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.equal(res.body.reservationId, h.reservationId)
      assert.equal(res.body.scheduleId, h.scheduleId)
      assert.equal(res.body.seatId, h.seatIds[0])
      assert.equal(res.body.seatLabel, 'R-1')
      assert.equal(res.body.price, 50_000)
      assert.equal(res.body.discount, 0)
      assert.equal(res.body.amount, 50_000)
      assert.equal(res.body.couponId, null)
      assert.equal(res.body.balance, 30_000)
      assert.equal(await balanceOf(api, h.fan), 30_000)
      assert.equal(await seatStatus(api, h.scheduleId, h.seatIds[0]!), 'sold')
      const reservation = await api.get(`/reservations/${h.reservationId}`, { token: h.fan.token })
      assert.equal(reservation.body.status, 'confirmed')
      assert.equal(reservation.body.confirmedAt, res.body.confirmedAt)
      const [payment] = await ledgerOf(h.fan)
      assert.deepEqual([payment!.kind, payment!.amount, payment!.balanceAfter], ['payment', -50_000, 30_000])
    })

    test('a fixed coupon takes its value off and is marked used', async () => {
      const h = await heldSeat(100_000, 100_000)
      const couponId = await couponFor(h.fan, 'fixed', 30_000)
      const res = await pay(api, h.fan, h.reservationId, h.queueToken, { couponId })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.deepEqual([res.body.price, res.body.discount, res.body.amount], [100_000, 30_000, 70_000])
      assert.equal(res.body.couponId, couponId)
      assert.equal(res.body.balance, 30_000)
      const owned = await ownedCoupon(h.fan, couponId)
      assert.equal(owned.status, 'used')
      assert.ok(owned.usedAt)
    })

    test('a percent coupon takes that share of the price, rounded down to whole points', async () => {
      const h = await heldSeat(99_999, 100_000)
      const couponId = await couponFor(h.fan, 'percent', 15)
      const res = await pay(api, h.fan, h.reservationId, h.queueToken, { couponId })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.deepEqual([res.body.discount, res.body.amount, res.body.balance], [14_999, 85_000, 15_000])
    })

    test('a discount larger than the price makes the seat free: nothing is debited', async () => {
      const h = await heldSeat(20_000, 0)
      const couponId = await couponFor(h.fan, 'fixed', 50_000)
      const res = await pay(api, h.fan, h.reservationId, h.queueToken, { couponId })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.deepEqual([res.body.discount, res.body.amount, res.body.balance], [20_000, 0, 0])
      assert.deepEqual(await ledgerOf(h.fan), [])
      assert.equal(await seatStatus(api, h.scheduleId, h.seatIds[0]!), 'sold')
    })

    test('too few points answers 402 INSUFFICIENT_POINTS and changes nothing; a retry with the same key then works', async () => {
      const h = await heldSeat(100_000, 60_000)
      const couponId = await couponFor(h.fan, 'percent', 10)
      const key = randomUUID()
      const res = await pay(api, h.fan, h.reservationId, h.queueToken, { couponId, key })
      assertError(res, 402, 'INSUFFICIENT_POINTS')
      assert.equal(await balanceOf(api, h.fan), 60_000)
      assert.equal(await seatStatus(api, h.scheduleId, h.seatIds[0]!), 'held')
      assert.equal(
        (await api.get(`/reservations/${h.reservationId}`, { token: h.fan.token })).body.status,
        'held',
      )
      assert.equal((await ownedCoupon(h.fan, couponId)).status, 'available')
      assert.equal((await ledgerOf(h.fan)).length, 1)
      assert.equal((await myTicket(api, h.fan, h.scheduleId)).body.status, 'admitted')

      await charge(api, h.fan, 40_000)
      const retry = await pay(api, h.fan, h.reservationId, h.queueToken, { couponId, key })
      assert.equal(retry.status, 201, JSON.stringify(retry.body))
      assert.equal(retry.headers.get('idempotent-replayed'), null)
      assert.deepEqual([retry.body.amount, retry.body.balance], [90_000, 10_000])
    })

    test('a coupon already used answers 409 COUPON_ALREADY_USED and the second seat stays unpaid', async () => {
      const fan = await signUp(api)
      await charge(api, fan, 500_000)
      const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 3, price: 10_000 })
      const [queueToken] = await admitFans(t, api, scheduleId, [fan])
      const first = await holdSeat(api, fan, scheduleId, seatIds[0]!, queueToken!)
      const second = await holdSeat(api, fan, scheduleId, seatIds[1]!, queueToken!)
      const couponId = await couponFor(fan, 'fixed', 1_000)
      assert.equal((await pay(api, fan, first.body.id, queueToken!, { couponId })).status, 201)
      const balance = await balanceOf(api, fan)
      assertError(await pay(api, fan, second.body.id, queueToken!, { couponId }), 409, 'COUPON_ALREADY_USED')
      assert.equal(await balanceOf(api, fan), balance)
      assert.equal(await seatStatus(api, scheduleId, seatIds[1]!), 'held')
      assert.equal(
        (await api.get(`/reservations/${second.body.id}`, { token: fan.token })).body.status,
        'held',
      )
    })

    test('a coupon not issued to the payer answers 403 COUPON_NOT_OWNED', async () => {
      const h = await heldSeat(10_000, 50_000)
      const someoneElse = await signUp(api)
      const theirs = await couponFor(someoneElse, 'fixed', 5_000)
      assertError(
        await pay(api, h.fan, h.reservationId, h.queueToken, { couponId: theirs }),
        403,
        'COUPON_NOT_OWNED',
      )
      assertError(
        await pay(api, h.fan, h.reservationId, h.queueToken, { couponId: randomUUID() }),
        403,
        'COUPON_NOT_OWNED',
      )
      assert.equal((await ownedCoupon(someoneElse, theirs)).status, 'available')
      assert.equal(await balanceOf(api, h.fan), 50_000)
      assert.equal(await seatStatus(api, h.scheduleId, h.seatIds[0]!), 'held')
    })

    test("paying someone else's reservation answers 403 FORBIDDEN", async () => {
      const h = await heldSeat(10_000, 50_000)
      const payer = await signUp(api)
      await charge(api, payer, 50_000)
      const [payerToken] = await admitFans(t, api, h.scheduleId, [payer])
      assertError(await pay(api, payer, h.reservationId, payerToken!), 403, 'FORBIDDEN')
      assert.equal(await balanceOf(api, payer), 50_000)
      assert.equal(
        (await api.get(`/reservations/${h.reservationId}`, { token: h.fan.token })).body.status,
        'held',
      )
    })

    test('the same Idempotency-Key replays the receipt with one charge; a new key answers 409; another body 422', async () => {
      const h = await heldSeat(25_000, 100_000)
      const key = randomUUID()
      const first = await pay(api, h.fan, h.reservationId, h.queueToken, { key })
      const again = await pay(api, h.fan, h.reservationId, h.queueToken, { key })
      assert.equal(first.status, 201)
      assert.equal(again.status, 201)
      assert.deepEqual(again.body, first.body)
      assert.equal(again.headers.get('idempotent-replayed'), 'true')
      assert.equal(await balanceOf(api, h.fan), 75_000)
      assert.equal((await ledgerOf(h.fan)).filter((e) => e.kind === 'payment').length, 1)

      assertError(await pay(api, h.fan, h.reservationId, h.queueToken), 409, 'RESERVATION_NOT_PAYABLE')
      const couponId = await couponFor(h.fan, 'fixed', 1)
      assertError(
        await pay(api, h.fan, h.reservationId, h.queueToken, { key, couponId }),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      )
      assert.equal(await balanceOf(api, h.fan), 75_000)
      assert.equal((await ownedCoupon(h.fan, couponId)).status, 'available')
    })

    test('a missing Idempotency-Key answers 400 naming the header', async () => {
      const h = await heldSeat(1_000, 5_000)
      const res = await api.post(`/reservations/${h.reservationId}/payment`, {
        token: h.fan.token,
        headers: { 'x-queue-token': h.queueToken },
        body: {},
      })
      assertError(res, 400, 'VALIDATION_FAILED')
      assert.equal(res.body.details.field, 'idempotency-key')
      assert.equal(await balanceOf(api, h.fan), 5_000)
    })

    test('a malformed couponId answers 400 naming it; an unknown reservation 404', async () => {
      const h = await heldSeat(1_000, 5_000)
      const res = await pay(api, h.fan, h.reservationId, h.queueToken, { couponId: 'TENOFF' })
      assertError(res, 400, 'VALIDATION_FAILED')
      assert.equal(res.body.details.field, 'couponId')
      assertError(await pay(api, h.fan, randomUUID(), h.queueToken), 404, 'RESERVATION_NOT_FOUND')
    })

    test('paying frees the fan’s waiting-room slot', async () => {
      const h = await heldSeat(1_000, 5_000)
      const status = () =>
        api
          .get(`/admin/schedules/${h.scheduleId}/queue`, { headers: adminHeaders(t.adminKey) })
          .then((r) => r.body)
      assert.equal((await status()).active, 1)
      assert.equal((await pay(api, h.fan, h.reservationId, h.queueToken)).status, 201)
      assert.equal((await myTicket(api, h.fan, h.scheduleId)).body.status, 'completed')
      const after = await status()
      assert.equal(after.active, 0)
      assert.equal(after.completed, 1)
    })

    test('a 100 % coupon pays a seat with an empty wallet', async () => {
      const h = await heldSeat(33_333, 0)
      const couponId = await couponFor(h.fan, 'percent', 100)
      const res = await pay(api, h.fan, h.reservationId, h.queueToken, { couponId })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.deepEqual([res.body.discount, res.body.amount, res.body.balance], [33_333, 0, 0])
    })
  })
}
