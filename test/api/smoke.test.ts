import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { charge, createSchedule, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`fan flow end to end [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'smoke', { QUEUE_ADMIT_PER_SECOND: 1000, QUEUE_MAX_ACTIVE: 1000 })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('a fan queues, holds a seat, pays with points and a coupon; the seat is sold', async () => {
      const fan = await signUp(api)
      await charge(api, fan, 200_000)
      const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 5, price: 100_000 })
      const coupon = await api.post('/admin/coupons', {
        headers: { 'x-admin-key': t.adminKey },
        body: { name: '10% off', discountType: 'percent', discountValue: 10, totalQuantity: 5 },
      })
      assert.equal(coupon.status, 201)
      const grant = await api.post(`/admin/coupons/${coupon.body.id}/grants`, {
        headers: { 'x-admin-key': t.adminKey },
        body: { userId: fan.id },
      })
      assert.equal(grant.status, 201)

      const [queueToken] = await admitFans(t, api, scheduleId, [fan])
      const hold = await api.post(`/schedules/${scheduleId}/seats/${seatIds[0]}/hold`, {
        token: fan.token,
        headers: { 'x-queue-token': queueToken! },
      })
      assert.equal(hold.status, 201, JSON.stringify(hold.body))
      assert.equal(hold.body.status, 'held')

      const pay = await api.post(`/reservations/${hold.body.id}/payment`, {
        token: fan.token,
        headers: { 'x-queue-token': queueToken!, 'idempotency-key': randomUUID() },
        body: { couponId: coupon.body.id },
      })
      assert.equal(pay.status, 201, JSON.stringify(pay.body))
      assert.equal(pay.body.discount, 10_000)
      assert.equal(pay.body.amount, 90_000)
      assert.equal(pay.body.balance, 110_000)

      const seats = await api.get(`/schedules/${scheduleId}/seats`)
      assert.equal(seats.body.seats.find((s: { id: string }) => s.id === seatIds[0]).status, 'sold')
      const reservation = await api.get(`/reservations/${hold.body.id}`, { token: fan.token })
      assert.equal(reservation.body.status, 'confirmed')
    })
  })
}
