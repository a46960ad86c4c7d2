import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { App } from '../../src/app.ts'
import { Api } from '../support/api-client.ts'
import { type SeededFan, seedAdmittedFans } from '../support/fans.ts'
import { createSchedule } from '../support/flows.ts'
import { startSecondInstance, startTestApp, type TestApp } from '../support/test-app.ts'

// Two API instances on one PostgreSQL database, each with its memory of taken seats.
describe('two instances share the truth about seats [postgres]', () => {
  const secret = randomBytes(32).toString('hex')
  let a: TestApp
  let b: App
  let apiA: Api
  let apiB: Api
  before(async () => {
    a = await startTestApp('postgres', 'two_instances', { AUTH_SECRET: secret, SEAT_CACHE_TTL_MS: 5000 })
    const second = await startSecondInstance(a, secret, { SEAT_CACHE_TTL_MS: 5000 })
    b = second.app
    apiA = new Api(a.url)
    apiB = new Api(second.url)
  })
  after(async () => {
    await b.close()
    await a.close()
  })

  const hold = (api: Api, fan: SeededFan, scheduleId: string, seatId: string) =>
    api.post(`/schedules/${scheduleId}/seats/${seatId}/hold`, {
      token: fan.token,
      headers: { 'x-queue-token': fan.queueToken },
    })

  test('a hold cancelled on one instance is free at once on the other, though the other remembered it taken', async () => {
    const { scheduleId, seatIds } = await createSchedule(apiA, a.adminKey, { seats: 1 })
    const [first, second] = await seedAdmittedFans(a.app.database.db, {
      count: 2,
      points: 0,
      secret,
      scheduleId,
    })
    const held = await hold(apiB, first!, scheduleId, seatIds[0]!)
    assert.equal(held.status, 201)
    // Instance A learns the seat is taken (and would answer from memory for up to 5 s).
    assert.equal((await hold(apiA, second!, scheduleId, seatIds[0]!)).status, 409)
    assert.equal((await apiB.delete(`/reservations/${held.body.id}`, { token: first!.token })).status, 204)
    let status = 0
    for (let i = 0; i < 20 && status !== 201; i++) {
      status = (await hold(apiA, second!, scheduleId, seatIds[0]!)).status
      if (status !== 201) await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(status, 201, 'instance A forgot the seat when it was released, well before its 5 s memory')
  })

  test('an admission spent, given back or ended on one instance is refused on the other at once', async () => {
    const { scheduleId, seatIds } = await createSchedule(apiA, a.adminKey, { seats: 6 })
    const [payer, leaver, kicked] = await seedAdmittedFans(a.app.database.db, {
      count: 3,
      points: 10_000_000,
      secret,
      scheduleId,
    })
    const refused = async (res: Promise<{ status: number; body: { code?: string } }>) => {
      const r = await res
      assert.deepEqual([r.status, r.body.code], [401, 'QUEUE_TOKEN_REVOKED'])
    }
    // paying the last live hold on A spends the admission: B refuses the token for the next seat at once
    const held = await hold(apiA, payer!, scheduleId, seatIds[0]!)
    assert.equal(held.status, 201)
    const paid = await apiA.post(`/reservations/${held.body.id}/payment`, {
      token: payer!.token,
      headers: { 'x-queue-token': payer!.queueToken, 'idempotency-key': randomBytes(8).toString('hex') },
      body: {},
    })
    assert.equal(paid.status, 201)
    await refused(hold(apiB, payer!, scheduleId, seatIds[1]!))
    // leaving the line on B gives the admission back: A refuses the old token
    assert.equal(
      (await apiB.delete(`/schedules/${scheduleId}/queue/me`, { token: leaver!.token })).status,
      204,
    )
    await refused(hold(apiA, leaver!, scheduleId, seatIds[2]!))
    // the organizer ends an admission on A: B refuses it
    const kick = await apiA.delete(`/admin/schedules/${scheduleId}/queue/${kicked!.id}`, {
      headers: { 'x-admin-key': a.adminKey },
    })
    assert.equal(kick.status, 204)
    await refused(hold(apiB, kicked!, scheduleId, seatIds[3]!))
    for (const seat of seatIds.slice(1)) {
      assert.equal(
        (await apiB.get(`/schedules/${scheduleId}/seats`)).body.seats.find(
          (x: { id: string }) => x.id === seat,
        ).status,
        'available',
      )
    }
  })
})

describe('a refund frees a sold seat on every instance [postgres]', () => {
  const secret = randomBytes(32).toString('hex')
  let a: TestApp
  let b: App
  let apiA: Api
  let apiB: Api
  before(async () => {
    a = await startTestApp('postgres', 'refund_instances', { AUTH_SECRET: secret })
    const second = await startSecondInstance(a, secret)
    b = second.app
    apiA = new Api(a.url)
    apiB = new Api(second.url)
  })
  after(async () => {
    await b.close()
    await a.close()
  })

  test('instance A remembers the seat sold for good; a refund on instance B frees it there too', async () => {
    const { scheduleId, seatIds } = await createSchedule(apiA, a.adminKey, { seats: 1, price: 1000 })
    const [buyer, next] = await seedAdmittedFans(a.app.database.db, {
      count: 2,
      points: 10_000,
      secret,
      scheduleId,
    })
    const held = await apiA.post(`/schedules/${scheduleId}/seats/${seatIds[0]}/hold`, {
      token: buyer!.token,
      headers: { 'x-queue-token': buyer!.queueToken },
    })
    assert.equal(held.status, 201)
    const paid = await apiA.post(`/reservations/${held.body.id}/payment`, {
      token: buyer!.token,
      headers: { 'x-queue-token': buyer!.queueToken, 'idempotency-key': randomBytes(8).toString('hex') },
      body: {},
    })
    assert.equal(paid.status, 201, JSON.stringify(paid.body))
    const holdOnA = () =>
      apiA.post(`/schedules/${scheduleId}/seats/${seatIds[0]}/hold`, {
        token: next!.token,
        headers: { 'x-queue-token': next!.queueToken },
      })
    assert.equal((await holdOnA()).status, 409, 'sold, and remembered so on A')
    const refunded = await apiB.post(`/admin/reservations/${held.body.id}/refund`, {
      headers: { 'x-admin-key': a.adminKey },
      body: {},
    })
    assert.equal(refunded.status, 200, JSON.stringify(refunded.body))
    let status = 0
    for (let i = 0; i < 40 && status !== 201; i++) {
      status = (await holdOnA()).status
      if (status !== 201) await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(status, 201, 'instance A forgot the sold seat when B refunded it')
  })
})
