import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import { offerSeat } from '../../src/waitlist/offer-seat.ts'
import { Api } from '../support/api-client.ts'
import { type SeededFan, seedAdmittedFans } from '../support/fans.ts'
import { createSchedule, type Show } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// Waiting-list offers raced on the real PostgreSQL server: the seat row lock and the unique indexes on open offers
// settle them.
describe('waiting-list races on real PostgreSQL', () => {
  const secret = randomBytes(32).toString('hex')
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp(
      'postgres',
      'waitlist_races',
      // The database arbitrates here: seats are sold, released and offered by direct writes, which an instance's
      // memory of taken seats learns only at its next poll (~100 ms): with it on, a race started sooner can find the
      // seat still "sold" there, and then nobody wins (once in CI, on a busy machine).
      { AUTH_SECRET: secret, DB_POOL_SIZE: 40, SEAT_CACHE_TTL_MS: 0 },
      { poolSize: 40 },
    )
    api = new Api(t.url)
  })
  after(() => t.close())
  const db = () => t.app.database.db

  /** A schedule of `seats` seats, all sold (written directly), and `waiting` fans on its waiting list in order. */
  async function soldOutWithList(seats: number, waiting: number): Promise<{ show: Show; fans: SeededFan[] }> {
    const show = await createSchedule(api, t.adminKey, { seats, price: 1_000 })
    await sql`update seats set status = 'sold', reservation_id = gen_random_uuid() where schedule_id = ${show.scheduleId}`.execute(
      db(),
    )
    const fans = await seedAdmittedFans(db(), {
      count: waiting,
      points: 10_000,
      secret,
      scheduleId: show.scheduleId,
      admit: false,
    })
    for (const fan of fans) {
      const res = await api.post(`/schedules/${show.scheduleId}/waitlist`, { token: fan.token })
      assert.equal(res.status, 201, JSON.stringify(res.body))
    }
    return { show, fans }
  }

  /** Seats come back on sale, as a refund or an expiry leaves them. */
  async function release(seatIds: readonly string[]) {
    await db()
      .updateTable('seats')
      .set({ status: 'available', reservation_id: null, held_until: null })
      .where('id', 'in', [...seatIds])
      .execute()
  }

  /** The offer as a consumer makes it: in its own transaction. */
  const offerInTransaction = (seatId: string) =>
    db()
      .transaction()
      .execute((tx) => offerSeat(tx, seatId, 900))

  test('the same released seat offered by 20 consumers at once: one open offer, to the first fan', async () => {
    const { show, fans } = await soldOutWithList(1, 10)
    const seatId = show.seatIds[0]!
    await release([seatId])
    const offers = await Promise.all(Array.from({ length: 20 }, () => offerInTransaction(seatId)))
    assert.equal(offers.filter((o) => o !== null).length, 1)
    const open = await db()
      .selectFrom('waitlist_offers')
      .select(['user_id', 'seat_id'])
      .where('schedule_id', '=', show.scheduleId)
      .where('status', '=', 'open')
      .execute()
    assert.deepEqual(open, [{ user_id: fans[0]!.id, seat_id: seatId }])
    const seat = await db().selectFrom('seats').selectAll().where('id', '=', seatId).executeTakeFirstOrThrow()
    assert.equal(seat.offered_to, fans[0]!.id)
  })

  test('the database refuses a second open offer of one seat, and a second open offer to one fan', async () => {
    const { show, fans } = await soldOutWithList(2, 3)
    await release(show.seatIds)
    assert.ok(await offerInTransaction(show.seatIds[0]!))
    const insert = (seatId: string, userId: string) =>
      db()
        .insertInto('waitlist_offers')
        .values({
          id: uuidv7(),
          schedule_id: show.scheduleId,
          seat_id: seatId,
          user_id: userId,
          expires_at: new Date(Date.now() + 60_000),
        })
        .execute()
    await assert.rejects(insert(show.seatIds[0]!, fans[1]!.id), /waitlist_offers_one_per_seat/)
    await assert.rejects(insert(show.seatIds[1]!, fans[0]!.id), /waitlist_offers_one_per_fan/)
  })

  test('ten seats released together, offered concurrently: ten fans, one seat each, in list order', async () => {
    const { show, fans } = await soldOutWithList(10, 15)
    await release(show.seatIds)
    const offers = await Promise.all(
      show.seatIds.flatMap((id) => [offerInTransaction(id), offerInTransaction(id)]),
    )
    assert.equal(offers.filter((o) => o !== null).length, 10)
    const open = await db()
      .selectFrom('waitlist_offers')
      .select(['user_id', 'seat_id'])
      .where('schedule_id', '=', show.scheduleId)
      .where('status', '=', 'open')
      .execute()
    assert.equal(new Set(open.map((o) => o.seat_id)).size, 10)
    assert.deepEqual(new Set(open.map((o) => o.user_id)), new Set(fans.slice(0, 10).map((f) => f.id)))
  })

  test('200 admitted fans race the offered fan for the seat: only the offered fan gets it, the rest get 409 SEAT_OFFERED_TO_WAITLIST', async () => {
    const { show, fans } = await soldOutWithList(1, 2)
    const seatId = show.seatIds[0]!
    await release([seatId])
    assert.ok(await offerInTransaction(seatId))
    const status = await api.get(`/schedules/${show.scheduleId}/waitlist/me`, { token: fans[0]!.token })
    const crowd = await seedAdmittedFans(db(), { count: 200, points: 0, secret, scheduleId: show.scheduleId })
    const hold = (fan: { token: string }, queueToken: string) =>
      api.post(`/schedules/${show.scheduleId}/seats/${seatId}/hold`, {
        token: fan.token,
        headers: { 'x-queue-token': queueToken },
      })
    const results = await Promise.all([
      ...crowd.slice(0, 100).map((f) => hold(f, f.queueToken)),
      hold(fans[0]!, status.body.queueToken),
      ...crowd.slice(100).map((f) => hold(f, f.queueToken)),
    ])
    const won = results.filter((r) => r.status === 201)
    assert.equal(won.length, 1)
    assert.equal(won[0]!.body.userId, fans[0]!.id)
    const codes = new Set(results.filter((r) => r.status !== 201).map((r) => `${r.status} ${r.body.code}`))
    assert.deepEqual(
      [...codes].filter((c) => c !== '409 SEAT_OFFERED_TO_WAITLIST' && c !== '409 SEAT_ALREADY_HELD'),
      [],
    )
    assert.ok(codes.has('409 SEAT_OFFERED_TO_WAITLIST'))
    const seat = await db().selectFrom('seats').selectAll().where('id', '=', seatId).executeTakeFirstOrThrow()
    assert.equal(seat.status, 'held')
    assert.equal(seat.offered_to, null)
  })
})
