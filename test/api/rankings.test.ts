import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { assertError, createSchedule } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds) {
  describe(`rankings [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'rankings')
      api = new Api(t.url)
    })
    after(() => t.close())

    test('a schedule ranking gives its total seats and, before any sale, soldCount 0', async () => {
      const { scheduleId } = await createSchedule(api, t.adminKey, { seats: 7 })
      const res = await api.get(`/rankings/schedules/${scheduleId}`)
      assert.equal(res.status, 200)
      assert.deepEqual(res.body, { scheduleId, soldCount: 0, totalSeats: 7, soldOutAt: null })
    })

    test('an unknown schedule answers 404 SCHEDULE_NOT_FOUND', async () => {
      assertError(await api.get(`/rankings/schedules/${randomUUID()}`), 404, 'SCHEDULE_NOT_FOUND')
    })

    test('the concert ranking defaults to today (UTC) and is empty before any sale', async () => {
      const res = await api.get('/rankings/concerts')
      assert.equal(res.status, 200)
      assert.equal(res.body.day, new Date().toISOString().slice(0, 10))
      assert.deepEqual(res.body.concerts, [])
      const other = await api.get('/rankings/concerts?day=2030-02-28&limit=5')
      assert.deepEqual(other.body, { day: '2030-02-28', concerts: [] })
    })

    test('a malformed or impossible day answers 400, never 500', async () => {
      for (const day of ['yesterday', '2030-02-30', '2030-13-01', '0000-01-01']) {
        const res = await api.get(`/rankings/concerts?day=${day}`)
        assertError(res, 400, 'VALIDATION_FAILED')
      }
      assertError(await api.get('/rankings/concerts?limit=101'), 400, 'VALIDATION_FAILED')
    })
  })
}
