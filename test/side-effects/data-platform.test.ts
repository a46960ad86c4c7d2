// Data-platform sync end to end: payments on the real service, reservation.confirmed through the outbox and the
// transport, the data-platform consumer calling a real loopback partner that goes down, answers 5xx, hangs past
// the client timeout, or refuses with a 4xx. Runs on the embedded log (real PostgreSQL) and on Kafka.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { seedAdmittedFans } from '../support/fans.ts'
import { type Buyer, buy, createSchedule } from '../support/flows.ts'
import {
  counterValue,
  mapLimit,
  quiesce,
  report,
  type SideEffectApp,
  startApp,
  targets,
  waitFor,
} from './support/harness.ts'
import { Receiver } from './support/receiver.ts'

const AUTH_HEADER = 'Authorization: Bearer dp-test-secret'
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The id of the reservation.confirmed event of each buyer's payment (its inbox notification keeps the event id). */
async function confirmedEventIds(t: SideEffectApp, userIds: readonly string[]): Promise<Map<string, string>> {
  const rows = await waitFor('a payment-confirmed notification per buyer', async () => {
    const found = await t.db
      .selectFrom('notifications')
      .select(['user_id', 'event_id'])
      .where('kind', '=', 'payment-confirmed')
      .where('user_id', 'in', [...userIds])
      .execute()
    return found.length === userIds.length && found
  })
  return new Map(rows.map((r) => [r.user_id, r.event_id]))
}

for (const target of targets()) {
  describe(`data-platform sync on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test('each confirmed reservation reaches the partner once, through outage, 5xx and slowness; a 4xx is dead-lettered, then replayed once', async (t) => {
      const receiver = await Receiver.start({ slowMs: 1200 })
      t.after(() => receiver.close())
      const app = await startApp(target, 'data_platform', {
        DATA_PLATFORM_URL: receiver.url('/v1/reservations'),
        DATA_PLATFORM_AUTH_HEADER: AUTH_HEADER,
        DATA_PLATFORM_TIMEOUT_MS: 300,
        // ~8 s of retries in all: longer than each outage below, so nothing is dead-lettered by them
        RETRY_DELAYS_MS: '1000,2000,4000',
      })
      t.after(() => app.close())

      const show = await createSchedule(app.api, app.adminKey, { seats: 16 })
      const buyers: Buyer[] = await seedAdmittedFans(app.db, {
        count: 16,
        points: 1_000_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      const reservationOf = new Map<string, string>() // user id -> reservation id
      const receipts = new Map<string, any>() // reservation id -> receipt
      const payMs: number[] = []
      const purchase = async (from: number, to: number) => {
        const bought = await mapLimit(buyers.slice(from, to), 8, (b, i) =>
          buy(app.api, b, show.scheduleId, show.seats[from + i]!.id),
        )
        bought.forEach((p, i) => {
          reservationOf.set(buyers[from + i]!.id, p.reservationId)
          receipts.set(p.reservationId, p.receipt)
          payMs.push(p.payMs)
        })
        return bought.map((p) => p.reservationId)
      }
      // Scoped to this run's reservations: on a shared Kafka cluster other runs' records may reach this partner.
      const requestsFor = (rid: string) => receiver.requestsWhere((r) => r.body?.reservationId === rid)
      const recordsFor = (rid: string) => receiver.recordsWhere((r) => r.body?.reservationId === rid)
      const allRecorded = (ids: readonly string[]) => ids.every((rid) => recordsFor(rid).length === 1)
      const retriedBefore = await counterValue(app, 'events_retried_total', { group: 'data-platform' })

      // 1. The partner is down (connection refused) while fans pay: payments still answer 201 at once.
      await receiver.setMode('down')
      const downIds = await purchase(0, 5)
      await waitFor(
        'the failed records moved to the retry topics',
        async () =>
          (await counterValue(app, 'events_retried_total', { group: 'data-platform' })) >=
          retriedBefore + downIds.length,
        { timeoutMs: 20_000 },
      )
      assert.equal(downIds.flatMap(requestsFor).length, 0, 'nothing can reach a partner that is down')
      await receiver.setMode('ok')
      await waitFor('records held back by the outage arrive after recovery', () => allRecorded(downIds), {
        timeoutMs: 20_000,
      })

      // 2. The partner answers 503 to everything until each record was refused at least twice.
      await receiver.setMode('5xx')
      const failingIds = await purchase(5, 10)
      await waitFor('every record refused twice with 503', () =>
        failingIds.every((rid) => requestsFor(rid).filter((r) => r.mode === '5xx').length >= 2),
      )
      await receiver.setMode('ok')
      await waitFor('records refused with 5xx arrive after recovery', () => allRecorded(failingIds), {
        timeoutMs: 20_000,
      })

      // 3. The partner hangs past DATA_PLATFORM_TIMEOUT_MS (it still commits, late): the client times out and
      //    retries with the same key, which the partner absorbs.
      await receiver.setMode('slow')
      const slowIds = await purchase(10, 15)
      await waitFor('every record tried again after a timeout', () =>
        slowIds.every((rid) => requestsFor(rid).filter((r) => r.mode === 'slow').length >= 2),
      )
      await receiver.setMode('ok')
      await waitFor('records sent to a slow partner arrive', () => allRecorded(slowIds), {
        timeoutMs: 20_000,
      })
      await sleep(receiver.slowMs + 500) // let the late answers of the hanging requests land
      assert.ok(
        receiver.duplicates.some((d) => slowIds.includes(d.body?.reservationId)),
        'the partner saw the same key twice (a retry after a timeout) and kept one record',
      )

      // 4. A 4xx refusal cannot be fixed by retrying: straight to the dead letters, listed with attempts and error.
      await receiver.setMode('4xx')
      const [refusedId] = await purchase(15, 16)
      const dead = await waitFor('the refused record in the dead letters', async () => {
        const res = await app.api.get('/admin/dead-letters?group=data-platform&status=dead', {
          headers: { 'x-admin-key': app.adminKey },
        })
        assert.equal(res.status, 200)
        return res.body.deadLetters.find(
          (d: any) => JSON.parse(d.value).data?.reservationId === refusedId,
        ) as any
      })
      assert.equal(dead.attempts, 1, 'a 4xx is not retried')
      assert.match(dead.error, /NonRetryableError.*400/)
      assert.equal(dead.originalTopic, 'reservation.confirmed')
      assert.equal(dead.group, 'data-platform')
      assert.equal(dead.key, refusedId)
      assert.equal(requestsFor(refusedId!).length, 1, 'the partner was asked once')
      assert.equal(recordsFor(refusedId!).length, 0)

      // The partner is fixed, the operator replays: delivered once, the dead letter marked replayed.
      await receiver.setMode('ok')
      const replay = await app.api.post('/admin/dead-letters/replay', {
        headers: { 'x-admin-key': app.adminKey },
        body: { ids: [dead.id] },
      })
      assert.equal(replay.status, 202)
      assert.deepEqual(replay.body.replayed, [dead.id])
      await waitFor('the replayed record arrives', () => recordsFor(refusedId!).length === 1)
      const after = await app.api.get(`/admin/dead-letters/${dead.id}`, {
        headers: { 'x-admin-key': app.adminKey },
      })
      assert.equal(after.body.status, 'replayed')

      // Settled: every reservation recorded exactly once, keyed by its event id, with the auth header.
      await quiesce(app)
      await sleep(500)
      const eventIds = await confirmedEventIds(
        app,
        buyers.map((b) => b.id),
      )
      for (const [userId, rid] of reservationOf) {
        const records = recordsFor(rid)
        assert.equal(records.length, 1, `reservation ${rid} recorded once`)
        const [record] = records
        const eventId = eventIds.get(userId)
        assert.match(record!.key ?? '', UUID_V7)
        assert.equal(record!.key, eventId, 'idempotency-key is the reservation.confirmed event id')
        const sent = requestsFor(rid)
        assert.deepEqual(
          new Set(sent.map((r) => r.key)),
          new Set([eventId]),
          'every try carries the same key',
        )
        for (const r of sent) {
          assert.equal(r.headers.authorization, 'Bearer dp-test-secret')
          assert.equal(r.method, 'POST')
          assert.equal(r.path, '/v1/reservations')
        }
        const receipt = receipts.get(rid)
        assert.deepEqual(
          {
            reservationId: record!.body.reservationId,
            paymentId: record!.body.paymentId,
            userId: record!.body.userId,
            amount: record!.body.amount,
            seatLabel: record!.body.seatLabel,
            concertId: record!.body.concertId,
          },
          {
            reservationId: rid,
            paymentId: receipt.paymentId,
            userId,
            amount: receipt.amount,
            seatLabel: receipt.seatLabel,
            concertId: show.concertId,
          },
        )
      }
      const deadOfRun = await app.api.get('/admin/dead-letters?group=data-platform&status=dead', {
        headers: { 'x-admin-key': app.adminKey },
      })
      const mine = new Set(reservationOf.values())
      assert.deepEqual(
        deadOfRun.body.deadLetters.filter((d: any) => mine.has(d.key)),
        [],
        'no record of this run is left dead',
      )

      payMs.sort((a, b) => a - b)
      const tries = [...mine].map((rid) => requestsFor(rid).length)
      report(`data-platform ${target.kind}`, {
        reservations: mine.size,
        partnerRequests: tries.reduce((a, b) => a + b, 0),
        duplicatesAbsorbed: receiver.duplicates.filter((d) => mine.has(d.body?.reservationId)).length,
        paymentMsMax: Math.round(payMs.at(-1)!),
      })
      assert.ok(payMs.at(-1)! < 3000, `payments stay fast while the partner fails (max ${payMs.at(-1)} ms)`)
    })
  })
}
