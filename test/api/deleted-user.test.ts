import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api, type ApiResponse } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { assertError, createCoupon, createSchedule, type Fan, holdSeat, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

/** A still-valid access token of an account that was deleted: every route answers 401 (or 404), never 500. */
for (const kind of databaseKinds) {
  describe(`deleted user's token [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'deleted_user', { QUEUE_ADMIT_PER_SECOND: 1000 })
      api = new Api(t.url)
    })
    after(() => t.close())

    async function deleteUser(fan: Fan) {
      await t.app.database.db.transaction().execute(async (tx) => {
        await tx.deleteFrom('queue_entries').where('user_id', '=', fan.id).execute()
        await tx.deleteFrom('wallet_ledger').where('user_id', '=', fan.id).execute()
        await tx.deleteFrom('wallets').where('user_id', '=', fan.id).execute()
        await tx.deleteFrom('users').where('id', '=', fan.id).execute()
      })
    }

    function assertGone(res: ApiResponse, what: string) {
      assert.ok(res.status < 500, `${what}: ${res.status} ${JSON.stringify(res.body)}`)
      assertError(res, 401, 'UNAUTHENTICATED')
    }

    test('writes that would reference the user answer 401 UNAUTHENTICATED', async () => {
      const show = await createSchedule(api, t.adminKey, { seats: 5 })
      const coupon = await createCoupon(api, t.adminKey, { totalQuantity: 10 })
      const fan = await signUp(api, 'gone')
      const [queueToken] = await admitFans(t, api, show.scheduleId, [fan])
      await deleteUser(fan)
      const auth = { token: fan.token }
      assertGone(
        await api.request('PUT', `/users/${fan.id}/notification-preferences`, {
          ...auth,
          body: { preferences: [{ channel: 'webhook', enabled: false, target: null }] },
        }),
        'preferences',
      )
      assertGone(await api.post(`/schedules/${show.scheduleId}/queue`, auth), 'queue entry')
      assertGone(await api.post(`/coupons/${coupon.id}/requests`, auth), 'coupon request')
      // Its queue entry went with the account (it references the user), so the database refuses the admission.
      const hold = await holdSeat(api, fan, show.scheduleId, show.seatIds[0]!, queueToken!)
      assertError(hold, 403, 'QUEUE_NOT_ADMITTED')
      assertGone(
        await api.post(`/users/${fan.id}/push-tokens`, {
          ...auth,
          body: { token: `device-${randomUUID()}`, platform: 'android' },
        }),
        'push token',
      )
    })

    test('reads of the missing account answer 401 or 404, never 500', async () => {
      const fan = await signUp(api, 'gone-reads')
      await deleteUser(fan)
      for (const path of [
        `/users/${fan.id}/wallet`,
        `/users/${fan.id}/wallet/ledger`,
        `/users/${fan.id}/notification-preferences`,
        `/users/${fan.id}/notifications`,
        `/users/${fan.id}/coupons`,
        `/users/${fan.id}/reservations`,
        `/users/${fan.id}/push-tokens`,
        `/users/${fan.id}/phone`,
      ]) {
        const res = await api.get(path, { token: fan.token })
        assert.ok([200, 401, 404].includes(res.status), `${path}: ${res.status} ${JSON.stringify(res.body)}`)
      }
      const charge = await api.post(`/users/${fan.id}/wallet/charges`, {
        token: fan.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { amount: 100 },
      })
      assert.ok(
        charge.status === 401 || charge.status === 404,
        `${charge.status} ${JSON.stringify(charge.body)}`,
      )
    })
  })
}
