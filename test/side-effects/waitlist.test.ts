// Refunds and waiting lists end to end, on the embedded log (real PostgreSQL) and on Kafka: a seat that comes back
// (a refund, a lapsed hold) goes through the outbox and the waiting-list consumers to the first fan on the list, who is
// told, holds it with the queue token the offer gives and pays; an offer left to lapse moves down the list at its
// deadline. The refund reaches the data platform as a correction of the same reservation.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { seedAdmittedFans } from '../support/fans.ts'
import { adminHeaders, buy, createSchedule, holdSeat, inbox, pay } from '../support/flows.ts'
import { quiesce, type SideEffectApp, startApp, targets, waitFor } from './support/harness.ts'
import { Receiver } from './support/receiver.ts'

async function waitlistStatus(app: SideEffectApp, fan: { token: string }, scheduleId: string) {
  const res = await app.api.get(`/schedules/${scheduleId}/waitlist/me`, { token: fan.token })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

async function join(app: SideEffectApp, fan: { token: string }, scheduleId: string) {
  const res = await app.api.post(`/schedules/${scheduleId}/waitlist`, { token: fan.token })
  assert.equal(res.status, 201, JSON.stringify(res.body))
}

for (const target of targets()) {
  describe(`refunds and waiting lists on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test('a refunded seat is offered to the first fan on the list, who is told, holds it and pays; the data platform gets a correction', async (t) => {
      const receiver = await Receiver.start()
      t.after(() => receiver.close())
      const app = await startApp(target, 'waitlist_refund', {
        DATA_PLATFORM_URL: receiver.url('/v1/reservations'),
        WEBHOOKS_ALLOW_PRIVATE: 'true',
        WEBHOOK_POLL_MS: 200,
      })
      t.after(() => app.close())

      const hook = await app.api.post('/admin/webhooks/endpoints', {
        headers: adminHeaders(app.adminKey),
        body: { url: receiver.url('/hooks'), eventTypes: ['reservation.refunded', 'waitlist.offered'] },
      })
      assert.equal(hook.status, 201, JSON.stringify(hook.body))
      const show = await createSchedule(app.api, app.adminKey, { seats: 1, price: 20_000 })
      const [buyer] = await seedAdmittedFans(app.db, {
        count: 1,
        points: 100_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      const waiting = await seedAdmittedFans(app.db, {
        count: 2,
        points: 100_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
        admit: false,
      })
      const [crowd] = await seedAdmittedFans(app.db, {
        count: 1,
        points: 100_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      const bought = await buy(app.api, buyer!, show.scheduleId, show.seatIds[0]!)
      for (const w of waiting) await join(app, w, show.scheduleId)

      const refund = await app.api.post(`/reservations/${bought.reservationId}/refund`, {
        token: buyer!.token,
        body: { reason: 'sick' },
      })
      assert.equal(refund.status, 200, JSON.stringify(refund.body))

      const offered = await waitFor('the seat offered to the first fan on the list', async () => {
        const s = await waitlistStatus(app, waiting[0]!, show.scheduleId)
        return s.status === 'offered' && s
      })
      assert.equal(offered.offer.seatId, show.seatIds[0])
      assert.equal((await waitlistStatus(app, waiting[1]!, show.scheduleId)).position, 1)
      const held = await holdSeat(app.api, crowd!, show.scheduleId, show.seatIds[0]!, crowd!.queueToken)
      assert.equal(held.status, 409)
      assert.equal(held.body.code, 'SEAT_OFFERED_TO_WAITLIST')

      const notice = await waitFor('the offer notification', async () =>
        (await inbox(app.api, { id: waiting[0]!.id, token: waiting[0]!.token })).find(
          (n) => n.kind === 'waitlist-offer',
        ),
      )
      assert.match(notice.body, /R-1/)
      const hold = await holdSeat(app.api, waiting[0]!, show.scheduleId, show.seatIds[0]!, offered.queueToken)
      assert.equal(hold.status, 201, JSON.stringify(hold.body))
      const paid = await pay(app.api, waiting[0]!, hold.body.id, offered.queueToken)
      assert.equal(paid.status, 201, JSON.stringify(paid.body))
      assert.equal((await waitlistStatus(app, waiting[0]!, show.scheduleId)).status, 'accepted')

      // The buyer is told of the refund; the data platform has the sale and its correction, keyed by the reservation.
      const refunded = await waitFor('the refund notification', async () =>
        (await inbox(app.api, { id: buyer!.id, token: buyer!.token })).find(
          (n) => n.kind === 'reservation-refunded',
        ),
      )
      assert.deepEqual(refunded.data, {
        kind: 'reservation-refunded',
        concertTitle: show.title,
        startsAt: show.startsAt,
        seatLabel: bought.receipt.seatLabel,
        amount: 20_000,
      })
      const records = await waitFor('the sale and its correction at the data platform', () => {
        const r = receiver.recordsWhere((x) => x.body?.reservationId === bought.reservationId)
        return r.length === 2 && r
      })
      const correction = records.find((r) => r.body.correction === 'refunded')!
      assert.equal(correction.body.refundedAmount, 20_000)
      assert.equal(correction.body.refundedBy, 'fan')
      assert.equal(correction.body.paymentId, bought.receipt.paymentId)
      // The organizer's endpoint got both, signed like every delivery.
      const hooks = await waitFor('both webhook deliveries', () => {
        const r = receiver.requestsWhere(
          (x) => x.path === '/hooks' && x.body?.data?.seatId === show.seatIds[0],
        )
        return new Set(r.map((x) => x.body.type)).size === 2 && r
      })
      assert.ok(hooks.every((h) => String(h.headers['webhook-signature']).startsWith('v1,')))
      await quiesce(app)
      // Settled, the rankings count the sale, its refund and the resale: one seat sold.
      const ranking = await app.api.get(`/rankings/schedules/${show.scheduleId}`)
      assert.equal(ranking.body.soldCount, 1, JSON.stringify(ranking.body))
      const today = new Date().toISOString().slice(0, 10)
      const daily = await app.api.get(`/rankings/concerts?day=${today}&limit=100`)
      const mine = daily.body.concerts?.find((c: any) => c.concertId === show.concertId)
      assert.equal(mine?.soldCount, 1, JSON.stringify(daily.body))
      const offers = await app.db
        .selectFrom('waitlist_offers')
        .selectAll()
        .where('seat_id', '=', show.seatIds[0]!)
        .execute()
      assert.deepEqual(
        offers.map((o) => [o.user_id, o.status]),
        [[waiting[0]!.id, 'accepted']],
      )
      const list = await app.api.get(`/admin/schedules/${show.scheduleId}/waitlist`, {
        headers: adminHeaders(app.adminKey),
      })
      assert.deepEqual(list.body.counts, { waiting: 1, offered: 0, accepted: 1, lapsed: 0, left: 0 })
    })

    test('a lapsed hold goes to the list; an offer left to lapse moves down the list at its deadline', async (t) => {
      const app = await startApp(target, 'waitlist_expiry', {
        HOLD_TTL_SECONDS: 2,
        WAITLIST_OFFER_MINUTES: 0.05,
      })
      t.after(() => app.close())
      const show = await createSchedule(app.api, app.adminKey, { seats: 1, price: 5_000 })
      const [holder] = await seedAdmittedFans(app.db, {
        count: 1,
        points: 0,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      const waiting = await seedAdmittedFans(app.db, {
        count: 3,
        points: 100_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
        admit: false,
      })
      const hold = await holdSeat(app.api, holder!, show.scheduleId, show.seatIds[0]!, holder!.queueToken)
      assert.equal(hold.status, 201)
      // Sold out while the hold lives: the list opens.
      for (const w of waiting) await join(app, w, show.scheduleId)

      const first = await waitFor('the lapsed hold offered to the first fan', async () => {
        const s = await waitlistStatus(app, waiting[0]!, show.scheduleId)
        return s.status === 'offered' && s
      })
      const offeredAt = Date.now()
      // The first fan lets it pass: at its deadline (3 s) it goes to the second.
      const second = await waitFor('the offer moved to the second fan', async () => {
        const s = await waitlistStatus(app, waiting[1]!, show.scheduleId)
        return s.status === 'offered' && s
      })
      assert.ok(Date.now() >= Date.parse(first.offer.expiresAt) - 50, 'not before the first deadline')
      assert.ok(Date.now() - offeredAt >= 2000)
      assert.equal((await waitlistStatus(app, waiting[0]!, show.scheduleId)).status, 'lapsed')
      const late = await holdSeat(app.api, waiting[0]!, show.scheduleId, show.seatIds[0]!, first.queueToken)
      assert.equal(late.status === 201, false, 'the first fan can no longer take it')

      const bought = await buy(
        app.api,
        { token: waiting[1]!.token, queueToken: second.queueToken },
        show.scheduleId,
        show.seatIds[0]!,
      )
      assert.equal(bought.receipt.seatId, show.seatIds[0])
      await waitFor('both offer notifications', async () => {
        const a = (await inbox(app.api, { id: waiting[0]!.id, token: waiting[0]!.token })).some(
          (n) => n.kind === 'waitlist-offer',
        )
        const b = (await inbox(app.api, { id: waiting[1]!.id, token: waiting[1]!.token })).some(
          (n) => n.kind === 'waitlist-offer',
        )
        return a && b
      })
      await quiesce(app)
      const offers = await app.db
        .selectFrom('waitlist_offers')
        .select(['user_id', 'status'])
        .where('seat_id', '=', show.seatIds[0]!)
        .orderBy('offered_at')
        .execute()
      assert.deepEqual(
        offers.map((o) => [o.user_id, o.status]),
        [
          [waiting[0]!.id, 'expired'],
          [waiting[1]!.id, 'accepted'],
        ],
      )
      assert.equal((await waitlistStatus(app, waiting[2]!, show.scheduleId)).status, 'waiting')
    })
  })
}
