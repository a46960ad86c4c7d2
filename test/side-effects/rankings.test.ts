// Rankings end to end: payments on the real service feed the ranking consumer through the outbox and the transport;
// a small schedule sells out; the day's top concerts come out ordered by sales; the same reservation.confirmed
// delivered again (through the outbox with the same event id, or straight onto the topic) counts nothing twice.
// Runs on the embedded log (real PostgreSQL) and on Kafka.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { v7 as uuidv7 } from 'uuid'
import { buildEvent } from '../../src/events/envelope.ts'
import { appendToOutbox } from '../../src/events/outbox/append.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import { buy, createSchedule, type Show } from '../support/flows.ts'
import {
  counterValue,
  deadLettersOf,
  mapLimit,
  quiesce,
  type SideEffectApp,
  startApp,
  targets,
  waitFor,
} from './support/harness.ts'

interface Sale {
  userId: string
  reservationId: string
  receipt: any
}

async function sell(t: SideEffectApp, show: Show, count: number): Promise<Sale[]> {
  const fans = await seedAdmittedFans(t.db, {
    count,
    points: 1_000_000,
    secret: t.secret,
    scheduleId: show.scheduleId,
  })
  // one after another: the last one completes the sell-out
  return mapLimit(fans, 1, async (fan, i) => {
    const { reservationId, receipt } = await buy(t.api, fan, show.scheduleId, show.seats[i]!.id)
    return { userId: fan.id, reservationId, receipt }
  })
}

/** The reservation.confirmed event of a sale, rebuilt with its original id (kept by its inbox notification). */
async function confirmedEvent(t: SideEffectApp, show: Show, sale: Sale) {
  const row = await waitFor('the payment-confirmed notification', () =>
    t.db
      .selectFrom('notifications')
      .select('event_id')
      .where('user_id', '=', sale.userId)
      .where('kind', '=', 'payment-confirmed')
      .executeTakeFirst(),
  )
  const r = sale.receipt
  const event = buildEvent('reservation.confirmed', sale.reservationId, {
    reservationId: sale.reservationId,
    paymentId: r.paymentId,
    scheduleId: show.scheduleId,
    concertId: show.concertId,
    seatId: r.seatId,
    seatLabel: r.seatLabel,
    userId: sale.userId,
    price: r.price,
    discount: r.discount,
    amount: r.amount,
    couponId: r.couponId,
    confirmedAt: r.confirmedAt,
  })
  return { ...event, id: row.event_id }
}

for (const target of targets()) {
  describe(`rankings on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test('sold counts, sell-out time and the top concerts of the day, unchanged by redelivery', async (t) => {
      const app = await startApp(target, 'rankings')
      t.after(() => app.close())
      const tag = Math.random().toString(36).slice(2, 7)
      const a = await createSchedule(app.api, app.adminKey, { seats: 3, title: `Rank A ${tag}` })
      const b = await createSchedule(app.api, app.adminKey, { seats: 5, title: `Rank B ${tag}` })
      const c = await createSchedule(app.api, app.adminKey, { seats: 5, title: `Rank C ${tag}` })
      const salesA = await sell(app, a, 3)
      const salesB = await sell(app, b, 1)
      const salesC = await sell(app, c, 2)
      const lastOfA: string = salesA
        .map((s) => s.receipt.confirmedAt)
        .sort()
        .at(-1)
      const day = lastOfA.slice(0, 10)

      const ranking = async (show: Show) => (await app.api.get(`/rankings/schedules/${show.scheduleId}`)).body
      const expectedSchedules = () => [
        { scheduleId: a.scheduleId, soldCount: 3, totalSeats: 3, soldOutAt: lastOfA },
        { scheduleId: b.scheduleId, soldCount: 1, totalSeats: 5, soldOutAt: null },
        { scheduleId: c.scheduleId, soldCount: 2, totalSeats: 5, soldOutAt: null },
      ]
      const mine = new Set([a.concertId, b.concertId, c.concertId])
      const topOfDay = async () =>
        (await app.api.get(`/rankings/concerts?day=${day}&limit=100`)).body.concerts.filter((x: any) =>
          mine.has(x.concertId),
        )
      const expectedTop = [
        { concertId: a.concertId, title: a.title, artist: 'Test Artist', soldCount: 3 },
        { concertId: c.concertId, title: c.title, artist: 'Test Artist', soldCount: 2 },
        { concertId: b.concertId, title: b.title, artist: 'Test Artist', soldCount: 1 },
      ]

      await waitFor('rankings caught up with the six sales', async () => {
        const now = await Promise.all([a, b, c].map(ranking))
        return now.map((r) => r.soldCount).join() === '3,1,2'
      })
      assert.deepEqual(await Promise.all([a, b, c].map(ranking)), expectedSchedules())
      assert.deepEqual(await topOfDay(), expectedTop, 'ordered by sales')

      // Redelivery: A's selling-out event again through the outbox (as a relay that crashed after publishing would
      // send it), twice; B's event straight onto the topic (as a consumer that died before committing would see it).
      const duplicates = async () =>
        counterValue(app, 'events_handled_total', { group: 'ranking', outcome: 'duplicate' })
      const before = await duplicates()
      const lastSaleA = salesA.find((s) => s.receipt.confirmedAt === lastOfA)!
      const again = await confirmedEvent(app, a, lastSaleA)
      await appendToOutbox(app.db, [again])
      await waitFor('the first duplicate handled', async () => (await duplicates()) >= before + 1)
      await appendToOutbox(app.db, [again])
      await waitFor('the second duplicate handled', async () => (await duplicates()) >= before + 2)
      const eventB = await confirmedEvent(app, b, salesB[0]!)
      await app.app.events.transport.publish([
        { topic: 'reservation.confirmed', key: eventB.subject, value: JSON.stringify(eventB) },
      ])
      await waitFor('the redelivered record handled', async () => (await duplicates()) >= before + 3)

      assert.deepEqual(
        await Promise.all([a, b, c].map(ranking)),
        expectedSchedules(),
        'nothing counted twice',
      )
      assert.deepEqual(await topOfDay(), expectedTop)
      const notified = await app.db
        .selectFrom('notifications')
        .select('id')
        .where('user_id', 'in', [lastSaleA.userId, salesB[0]!.userId])
        .where('kind', '=', 'payment-confirmed')
        .execute()
      assert.equal(notified.length, 2, 'and no second notification either')

      await quiesce(app)
      const users = new Set([...salesA, ...salesB, ...salesC].map((s) => s.userId))
      assert.deepEqual(await deadLettersOf(app, users), [])
    })

    test('the sell-out time is the last sale, whatever order the confirmations are handled in', async (t) => {
      // Confirmations of different reservations live on different partitions, so the consumer may see them out
      // of order. Here the schedule's tally is rebuilt from its three real sales delivered as 1st, 3rd, 2nd.
      const app = await startApp(target, 'rankings_order')
      t.after(() => app.close())
      const show = await createSchedule(app.api, app.adminKey, { seats: 3 })
      const sales = await sell(app, show, 3)
      const ranking = async () => (await app.api.get(`/rankings/schedules/${show.scheduleId}`)).body
      await waitFor('the three sales counted', async () => (await ranking()).soldCount === 3)
      const times = sales.map((s) => s.receipt.confirmedAt as string)
      assert.deepEqual([...times].sort(), times, 'sold one after another')
      assert.equal((await ranking()).soldOutAt, times[2])

      await app.db.deleteFrom('schedule_sales').where('schedule_id', '=', show.scheduleId).execute()
      await app.db.deleteFrom('concert_daily_sales').where('concert_id', '=', show.concertId).execute()
      const deliver = async (sale: Sale, count: number) => {
        const original = await confirmedEvent(app, show, sale)
        // a new event id: these are handled as first deliveries
        const { id: _, ...rest } = original
        await appendToOutbox(app.db, [{ ...rest, id: uuidv7() }])
        await waitFor(`${count} sales counted`, async () => (await ranking()).soldCount === count)
      }
      await deliver(sales[0]!, 1)
      await deliver(sales[2]!, 2)
      await deliver(sales[1]!, 3)
      assert.equal((await ranking()).soldOutAt, times[2], 'sold out when the last seat was sold')
    })
  })
}
