import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { adminHeaders, assertError, createCoupon, grantCoupon, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`coupons [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'coupons')
      api = new Api(t.url)
    })
    after(() => t.close())

    const readCoupon = (id: string) => api.get(`/admin/coupons/${id}`, { headers: adminHeaders(t.adminKey) })

    test('a coupon is defined (201) and read back with its issued count', async () => {
      const res = await api.post('/admin/coupons', {
        headers: adminHeaders(t.adminKey),
        body: { name: 'Early bird', discountType: 'fixed', discountValue: 5_000, totalQuantity: 10 },
      })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.deepEqual(
        { ...res.body, id: undefined },
        {
          id: undefined,
          name: 'Early bird',
          discountType: 'fixed',
          discountValue: 5_000,
          totalQuantity: 10,
          issuedCount: 0,
        },
      )
      const read = await readCoupon(res.body.id)
      assert.equal(read.status, 200)
      assert.deepEqual(read.body, res.body)
      assertError(await readCoupon(randomUUID()), 404, 'COUPON_NOT_FOUND')
      assertError(await api.get(`/admin/coupons/${res.body.id}`), 401, 'ADMIN_KEY_INVALID')
    })

    test('GET /coupons lists coupons with stock left, without the sold-out ones', async () => {
      const open = await api.post('/admin/coupons', {
        headers: adminHeaders(t.adminKey),
        body: { name: 'Listed', discountType: 'percent', discountValue: 10, totalQuantity: 1 },
      })
      const fan = await signUp(api)
      const before = await api.get('/coupons')
      assert.equal(before.status, 200)
      assert.ok(before.body.coupons.some((c: { id: string }) => c.id === open.body.id))
      assert.equal((await grantCoupon(api, t.adminKey, open.body.id, fan.id)).status, 201)
      const after = await api.get('/coupons')
      assert.ok(!after.body.coupons.some((c: { id: string }) => c.id === open.body.id))
    })

    test('grants stop at totalQuantity with 409 COUPON_SOLD_OUT', async () => {
      const coupon = await createCoupon(api, t.adminKey, {
        discountType: 'fixed',
        discountValue: 100,
        totalQuantity: 3,
      })
      const fans = await Promise.all([1, 2, 3, 4, 5].map(() => signUp(api, 'grant')))
      for (const fan of fans.slice(0, 3)) {
        const res = await grantCoupon(api, t.adminKey, coupon.id, fan.id)
        assert.equal(res.status, 201, JSON.stringify(res.body))
        assert.equal(res.body.couponId, coupon.id)
        assert.equal(res.body.userId, fan.id)
      }
      for (const fan of fans.slice(3)) {
        assertError(await grantCoupon(api, t.adminKey, coupon.id, fan.id), 409, 'COUPON_SOLD_OUT')
        const owned = await api.get(`/users/${fan.id}/coupons`, { token: fan.token })
        assert.deepEqual(owned.body.coupons, [])
      }
      assert.equal((await readCoupon(coupon.id)).body.issuedCount, 3)
    })

    test('a coupon with totalQuantity 0 is sold out from the start', async () => {
      const coupon = await createCoupon(api, t.adminKey, {
        discountType: 'percent',
        discountValue: 5,
        totalQuantity: 0,
      })
      const fan = await signUp(api)
      assertError(await grantCoupon(api, t.adminKey, coupon.id, fan.id), 409, 'COUPON_SOLD_OUT')
      assert.equal((await readCoupon(coupon.id)).body.issuedCount, 0)
    })

    test('a user gets a coupon at most once (409 COUPON_ALREADY_GRANTED), without using up stock', async () => {
      const coupon = await createCoupon(api, t.adminKey, {
        discountType: 'fixed',
        discountValue: 100,
        totalQuantity: 2,
      })
      const fan = await signUp(api)
      assert.equal((await grantCoupon(api, t.adminKey, coupon.id, fan.id)).status, 201)
      assertError(await grantCoupon(api, t.adminKey, coupon.id, fan.id), 409, 'COUPON_ALREADY_GRANTED')
      assert.equal((await readCoupon(coupon.id)).body.issuedCount, 1)
      const owned = await api.get(`/users/${fan.id}/coupons`, { token: fan.token })
      assert.equal(owned.body.coupons.length, 1)
      // the second unit is still there for someone else
      const other = await signUp(api)
      assert.equal((await grantCoupon(api, t.adminKey, coupon.id, other.id)).status, 201)
    })

    test('percent discounts above 100 answer 400 naming discountValue; 100 is allowed', async () => {
      const over = await api.post('/admin/coupons', {
        headers: adminHeaders(t.adminKey),
        body: { name: 'Too good', discountType: 'percent', discountValue: 101, totalQuantity: 1 },
      })
      assertError(over, 400, 'VALIDATION_FAILED')
      assert.equal(over.body.details.field, 'discountValue')
      await createCoupon(api, t.adminKey, { discountType: 'percent', discountValue: 100 })
      // a fixed discount is in points, so more than 100 is fine
      await createCoupon(api, t.adminKey, { discountType: 'fixed', discountValue: 5_000 })
    })

    test('other bad definitions answer 400 naming the field', async () => {
      const base = { name: 'x', discountType: 'fixed', discountValue: 10, totalQuantity: 1 }
      for (const [body, field] of [
        [{ ...base, discountValue: 0 }, 'discountValue'],
        [{ ...base, discountValue: -5 }, 'discountValue'],
        [{ ...base, discountValue: 2.5 }, 'discountValue'],
        [{ ...base, totalQuantity: -1 }, 'totalQuantity'],
        [{ ...base, discountType: 'bogo' }, 'discountType'],
        [{ ...base, name: '' }, 'name'],
      ] as const) {
        const res = await api.post('/admin/coupons', { headers: adminHeaders(t.adminKey), body })
        assertError(res, 400, 'VALIDATION_FAILED')
        assert.equal(res.body.details.field, field, JSON.stringify(res.body))
      }
    })

    test('granting an unknown coupon or to an unknown user answers 404', async () => {
      const coupon = await createCoupon(api, t.adminKey, {
        discountType: 'fixed',
        discountValue: 1,
        totalQuantity: 5,
      })
      const fan = await signUp(api)
      assertError(await grantCoupon(api, t.adminKey, randomUUID(), fan.id), 404, 'COUPON_NOT_FOUND')
      assertError(await grantCoupon(api, t.adminKey, coupon.id, randomUUID()), 404, 'USER_NOT_FOUND')
      assert.equal((await readCoupon(coupon.id)).body.issuedCount, 0)
      const noKey = await api.post(`/admin/coupons/${coupon.id}/grants`, { body: { userId: fan.id } })
      assertError(noKey, 401, 'ADMIN_KEY_INVALID')
    })

    test('each user lists exactly the coupons they own, oldest first', async () => {
      const a = await signUp(api)
      const b = await signUp(api)
      const c1 = await createCoupon(api, t.adminKey, {
        name: 'First',
        discountType: 'fixed',
        discountValue: 1_000,
      })
      const c2 = await createCoupon(api, t.adminKey, {
        name: 'Second',
        discountType: 'percent',
        discountValue: 20,
      })
      await grantCoupon(api, t.adminKey, c1.id, a.id)
      await grantCoupon(api, t.adminKey, c2.id, a.id)
      await grantCoupon(api, t.adminKey, c2.id, b.id)
      const mine = await api.get(`/users/${a.id}/coupons`, { token: a.token })
      assert.equal(mine.status, 200)
      assert.deepEqual(
        mine.body.coupons.map((c: Record<string, unknown>) => [
          c.couponId,
          c.name,
          c.discountType,
          c.discountValue,
          c.status,
          c.usedAt,
        ]),
        [
          [c1.id, 'First', 'fixed', 1_000, 'available', null],
          [c2.id, 'Second', 'percent', 20, 'available', null],
        ],
      )
      const theirs = await api.get(`/users/${b.id}/coupons`, { token: b.token })
      assert.deepEqual(
        theirs.body.coupons.map((c: { couponId: string }) => c.couponId),
        [c2.id],
      )
      assertError(await api.get(`/users/${b.id}/coupons`, { token: a.token }), 403, 'FORBIDDEN')
    })
  })
}
