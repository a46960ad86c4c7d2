import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { expireOffer, offerSeat } from '../../src/waitlist/offer-seat.ts'
import { sweepWaitlists } from '../../src/waitlist/sweep-offers.ts'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import {
  adminHeaders,
  assertError,
  charge,
  createSchedule,
  type Fan,
  holdSeat,
  pay,
  signUp,
} from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

// The waiting list through the API. The consumers that offer seats run in the side-effect tests; here the API-only
// app has none, so the test does their work by calling what they call (offerSeat, expireOffer).
for (const kind of databaseKinds) {
  describe(`waiting list [${kind}]`, () => {
    let t: TestApp
    let api: Api
    const OFFER_SECONDS = 900
    before(async () => {
      t = await startTestApp(kind, 'waitlist', { QUEUE_ADMIT_PER_SECOND: 1000, WAITLIST_OFFER_MINUTES: 15 })
      api = new Api(t.url)
    })
    after(() => t.close())
    const db = () => t.app.database.db

    const join = (fan: Fan, scheduleId: string) =>
      api.post(`/schedules/${scheduleId}/waitlist`, { token: fan.token })
    const me = (fan: Fan, scheduleId: string) =>
      api.get(`/schedules/${scheduleId}/waitlist/me`, { token: fan.token })
    const leave = (fan: Fan, scheduleId: string) =>
      api.delete(`/schedules/${scheduleId}/waitlist/me`, { token: fan.token })
    const list = (scheduleId: string, query = '') =>
      api.get(`/admin/schedules/${scheduleId}/waitlist${query}`, { headers: adminHeaders(t.adminKey) })

    async function fan(label: string): Promise<Fan> {
      const f = await signUp(api, label)
      await charge(api, f, 100_000)
      return f
    }

    /** A one-seat schedule whose seat `buyer` paid: sold out. */
    async function soldOut() {
      const buyer = await fan('buyer')
      const show = await createSchedule(api, t.adminKey, { seats: 1, price: 10_000 })
      const [queueToken] = await admitFans(t, api, show.scheduleId, [buyer])
      const hold = await holdSeat(api, buyer, show.scheduleId, show.seatIds[0]!, queueToken!)
      assert.equal(hold.status, 201, JSON.stringify(hold.body))
      assert.equal((await pay(api, buyer, hold.body.id, queueToken!)).status, 201)
      return { show, buyer, seatId: show.seatIds[0]!, reservationId: hold.body.id as string }
    }

    const refund = (reservationId: string) =>
      api.post(`/admin/reservations/${reservationId}/refund`, { headers: adminHeaders(t.adminKey), body: {} })

    test('joining needs a sold-out schedule; bad input is a 4xx', async () => {
      const f = await fan('early')
      const show = await createSchedule(api, t.adminKey, { seats: 2 })
      assertError(await join(f, show.scheduleId), 409, 'SCHEDULE_NOT_SOLD_OUT')
      assertError(await join(f, randomUUID()), 404, 'SCHEDULE_NOT_FOUND')
      assertError(await join(f, 'nope'), 400, 'VALIDATION_FAILED')
      assertError(await api.post(`/schedules/${show.scheduleId}/waitlist`), 401, 'UNAUTHENTICATED')
      assertError(await me(f, show.scheduleId), 404, 'WAITLIST_ENTRY_NOT_FOUND')
      assertError(await leave(f, show.scheduleId), 404, 'WAITLIST_ENTRY_NOT_FOUND')
      assertError(await list(randomUUID()), 404, 'SCHEDULE_NOT_FOUND')
      assertError(await list(show.scheduleId, '?status=gone'), 400, 'VALIDATION_FAILED')
      assertError(await api.get(`/admin/schedules/${show.scheduleId}/waitlist`), 401, 'ADMIN_KEY_INVALID')
    })

    test('fans join in order, keep their place on joining again; the organizer sees the list', async () => {
      const s = await soldOut()
      const [w1, w2, w3] = [await fan('w1'), await fan('w2'), await fan('w3')]
      const first = await join(w1, s.show.scheduleId)
      assert.equal(first.status, 201, JSON.stringify(first.body))
      assert.deepEqual([first.body.status, first.body.position, first.body.offer], ['waiting', 1, null])
      assert.equal((await join(w2, s.show.scheduleId)).status, 201)
      assert.equal((await join(w3, s.show.scheduleId)).status, 201)
      const again = await join(w1, s.show.scheduleId)
      assert.equal(again.status, 200)
      assert.equal(again.body.position, 1)
      assert.equal((await me(w3, s.show.scheduleId)).body.position, 3)

      assert.equal((await leave(w2, s.show.scheduleId)).status, 204)
      assert.equal((await me(w3, s.show.scheduleId)).body.position, 2)
      assert.equal((await me(w2, s.show.scheduleId)).body.status, 'left')
      const res = await list(s.show.scheduleId)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(res.body.counts, { waiting: 2, offered: 0, accepted: 0, lapsed: 0, left: 1 })
      assert.deepEqual(
        res.body.entries.map((e: any) => [e.userId, e.status, e.position]),
        [
          [w1.id, 'waiting', 1],
          [w2.id, 'left', null],
          [w3.id, 'waiting', 2],
        ],
      )
      const waiting = await list(s.show.scheduleId, '?status=waiting')
      assert.deepEqual(
        waiting.body.entries.map((e: any) => e.userId),
        [w1.id, w3.id],
      )
      // Back after leaving: at the end of the line.
      assert.equal((await join(w2, s.show.scheduleId)).status, 201)
      assert.equal((await me(w2, s.show.scheduleId)).body.position, 3)
    })

    test('a refunded seat is offered to the first fan alone: others are refused, the fan holds it without queueing and pays', async () => {
      const s = await soldOut()
      const [w1, w2] = [await fan('w1'), await fan('w2')]
      await join(w1, s.show.scheduleId)
      await join(w2, s.show.scheduleId)
      const other = await fan('other')
      const [otherToken] = await admitFans(t, api, s.show.scheduleId, [other])

      assert.equal((await refund(s.reservationId)).status, 200)
      // Before the offer is made (the consumer's work), the seat already belongs to the list.
      assertError(
        await holdSeat(api, other, s.show.scheduleId, s.seatId, otherToken!),
        409,
        'SEAT_OFFERED_TO_WAITLIST',
      )
      const offerId = await offerSeat(db(), s.seatId, OFFER_SECONDS)
      assert.ok(offerId)
      assert.equal(
        await offerSeat(db(), s.seatId, OFFER_SECONDS),
        null,
        'an offered seat is not offered twice',
      )

      const mine = await me(w1, s.show.scheduleId)
      assert.equal(mine.body.status, 'offered')
      assert.equal(mine.body.offer.offerId, offerId)
      assert.equal(mine.body.offer.seatId, s.seatId)
      assert.equal(mine.body.offer.seatLabel, 'R-1')
      const left = Date.parse(mine.body.offer.expiresAt) - Date.now()
      assert.ok(left > (OFFER_SECONDS - 60) * 1000 && left <= OFFER_SECONDS * 1000, `deadline in ${left} ms`)
      assert.ok(mine.body.queueToken, 'the offer admits the fan: a queue token comes with it')
      assert.equal((await me(w2, s.show.scheduleId)).body.position, 1)

      assertError(
        await holdSeat(api, other, s.show.scheduleId, s.seatId, otherToken!),
        409,
        'SEAT_OFFERED_TO_WAITLIST',
      )
      const hold = await holdSeat(api, w1, s.show.scheduleId, s.seatId, mine.body.queueToken)
      assert.equal(hold.status, 201, JSON.stringify(hold.body))
      const paid = await pay(api, w1, hold.body.id, mine.body.queueToken)
      assert.equal(paid.status, 201, JSON.stringify(paid.body))
      assert.equal((await me(w1, s.show.scheduleId)).body.status, 'accepted')
      const offered = await db()
        .selectFrom('outbox')
        .select('event')
        .where('topic', '=', 'waitlist.offered')
        .where('key', '=', s.seatId)
        .execute()
      assert.equal(offered.length, 1)
      const event = (
        typeof offered[0]!.event === 'string' ? JSON.parse(offered[0]!.event) : offered[0]!.event
      ) as any
      assert.deepEqual(
        [event.data.offerId, event.data.userId, event.data.expiresAt],
        [offerId, w1.id, mine.body.offer.expiresAt],
      )
    })

    test('an offer past its deadline moves down the list; leaving with an offer passes it on at once', async () => {
      const s = await soldOut()
      const [w1, w2, w3] = [await fan('w1'), await fan('w2'), await fan('w3')]
      for (const w of [w1, w2, w3]) await join(w, s.show.scheduleId)
      assert.equal((await refund(s.reservationId)).status, 200)
      const firstOffer = (await offerSeat(db(), s.seatId, OFFER_SECONDS))!
      assert.equal(await expireOffer(db(), firstOffer, OFFER_SECONDS), 'not-due')

      await db()
        .updateTable('waitlist_offers')
        .set({ expires_at: sql`now() - interval '1 second'` })
        .where('id', '=', firstOffer)
        .execute()
      await db()
        .updateTable('seats')
        .set({ offered_until: sql`now() - interval '1 second'` })
        .where('id', '=', s.seatId)
        .execute()
      const token = (await me(w1, s.show.scheduleId)).body.queueToken
      // Past the deadline w1 cannot take it while others wait, even before the expiry ran.
      assertError(
        await holdSeat(api, w1, s.show.scheduleId, s.seatId, token),
        409,
        'SEAT_OFFERED_TO_WAITLIST',
      )
      assert.equal(await expireOffer(db(), firstOffer, OFFER_SECONDS), 'expired')
      assert.equal(await expireOffer(db(), firstOffer, OFFER_SECONDS), 'done')
      assert.equal((await me(w1, s.show.scheduleId)).body.status, 'lapsed')
      const second = await me(w2, s.show.scheduleId)
      assert.equal(second.body.status, 'offered')
      assert.equal(second.body.offer.seatId, s.seatId)

      assert.equal((await leave(w2, s.show.scheduleId)).status, 204)
      const third = await me(w3, s.show.scheduleId)
      assert.equal(third.body.status, 'offered')
      const offers = await db()
        .selectFrom('waitlist_offers')
        .select(['user_id', 'status'])
        .where('seat_id', '=', s.seatId)
        .orderBy('offered_at')
        .execute()
      assert.deepEqual(
        offers.map((o) => [o.user_id, o.status]),
        [
          [w1.id, 'expired'],
          [w2.id, 'withdrawn'],
          [w3.id, 'open'],
        ],
      )
    })

    test('the sweep offers a returned seat nobody offered, and moves on an offer whose expiry was missed', async () => {
      const s = await soldOut()
      const [w1, w2] = [await fan('w1'), await fan('w2')]
      await join(w1, s.show.scheduleId)
      await join(w2, s.show.scheduleId)
      assert.equal((await refund(s.reservationId)).status, 200)
      // No consumer runs here: the refund's event is never handled, as if it were lost.
      const sweep = () => sweepWaitlists(db(), { graceSeconds: 0, offerSeconds: OFFER_SECONDS })
      const first = await sweep()
      assert.ok(first.offered >= 1, JSON.stringify(first))
      assert.equal((await me(w1, s.show.scheduleId)).body.status, 'offered')
      await db()
        .updateTable('waitlist_offers')
        .set({ expires_at: sql`now() - interval '1 second'` })
        .where('seat_id', '=', s.seatId)
        .where('status', '=', 'open')
        .execute()
      const second = await sweep()
      assert.ok(second.expired >= 1, JSON.stringify(second))
      assert.equal((await me(w1, s.show.scheduleId)).body.status, 'lapsed')
      assert.equal((await me(w2, s.show.scheduleId)).body.status, 'offered')
    })

    test('with nobody left waiting, a seat that comes back is on sale to everyone', async () => {
      const s = await soldOut()
      const w = await fan('w')
      await join(w, s.show.scheduleId)
      assert.equal((await leave(w, s.show.scheduleId)).status, 204)
      assert.equal((await refund(s.reservationId)).status, 200)
      assert.equal(await offerSeat(db(), s.seatId, OFFER_SECONDS), null)
      const other = await fan('other')
      const [token] = await admitFans(t, api, s.show.scheduleId, [other])
      assert.equal((await holdSeat(api, other, s.show.scheduleId, s.seatId, token!)).status, 201)
    })
  })
}
