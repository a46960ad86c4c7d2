// Hold expiration at scale: 1,000 holds lapse together and the expiration consumer (delayed delivery of
// reservation.held) ends each exactly once, never before its deadline, with one reservation.expired each, and every
// seat goes back on sale. Two bursts: holds taken over real HTTP as fast as the API allows (their deadlines spread
// over the seconds the burst took), and holds written in one transaction with the very same deadline (the worst
// case for the worker). Prints how late the releases came (p50/p99). Runs on the embedded log (real PostgreSQL) and
// on Kafka.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { Pool } from 'undici'
import { v7 as uuidv7 } from 'uuid'
import { buildEvent } from '../../src/events/envelope.ts'
import { appendToOutbox } from '../../src/events/outbox/append.ts'
import { type SeededFan, seedAdmittedFans } from '../support/fans.ts'
import { createSchedule, type Show } from '../support/flows.ts'
import {
  deadLettersOf,
  mapLimit,
  percentile,
  quiesce,
  report,
  type SideEffectApp,
  startApp,
  targets,
  waitFor,
} from './support/harness.ts'

const HOLDS = 1000
const TTL_SECONDS = 5
const PRICE = 50_000

/** Holds every seat over HTTP, one fan per seat, 100 requests in flight. */
async function holdOverHttp(t: SideEffectApp, show: Show, fans: readonly SeededFan[]): Promise<number[]> {
  const pool = new Pool(t.url, { connections: 100, pipelining: 1 })
  try {
    // Warm-up on reads (JIT, connections) so the holds come as one tight burst.
    await mapLimit(Array.from({ length: 300 }), 100, async () => {
      const res = await pool.request({ method: 'GET', path: `/schedules/${show.scheduleId}` })
      await res.body.dump()
    })
    return await mapLimit(fans, 100, async (fan, i) => {
      const res = await pool.request({
        method: 'POST',
        path: `/schedules/${show.scheduleId}/seats/${show.seats[i]!.id}/hold`,
        headers: { authorization: `Bearer ${fan.token}`, 'x-queue-token': fan.queueToken },
      })
      await res.body.dump()
      return res.statusCode
    })
  } finally {
    await pool.close()
  }
}

/**
 * The writes of `holdSeat` for every seat at once, in one transaction with one deadline: seats held, reservations
 * inserted, one reservation.held each in the outbox. Only the HTTP path is skipped; the expiry side is the real one.
 */
async function holdAllAtOnce(t: SideEffectApp, show: Show, fans: readonly SeededFan[]): Promise<void> {
  const expiresAt = new Date(Date.now() + TTL_SECONDS * 1000)
  const holds = fans.map((fan, i) => ({ id: uuidv7(), userId: fan.id, seatId: show.seats[i]!.id }))
  await t.db.transaction().execute(async (tx) => {
    await sql`
      update seats s set status = 'held', reservation_id = h.id, held_until = ${expiresAt}
      from unnest(${holds.map((h) => h.seatId)}::uuid[], ${holds.map((h) => h.id)}::uuid[]) as h(seat_id, id)
      where s.id = h.seat_id and s.status = 'available'`.execute(tx)
    await tx
      .insertInto('reservations')
      .values(
        holds.map((h) => ({
          id: h.id,
          schedule_id: show.scheduleId,
          seat_id: h.seatId,
          user_id: h.userId,
          price: PRICE,
          status: 'held' as const,
          expires_at: expiresAt,
        })),
      )
      .execute()
    await appendToOutbox(
      tx,
      holds.map((h) =>
        buildEvent('reservation.held', h.id, {
          reservationId: h.id,
          scheduleId: show.scheduleId,
          seatId: h.seatId,
          userId: h.userId,
          price: PRICE,
          expiresAt: expiresAt.toISOString(),
        }),
      ),
    )
  })
}

/** Waits for every hold of the schedule to be released, checks each ended once and on time, returns the figures. */
async function verifyReleased(t: SideEffectApp, show: Show, fans: readonly SeededFan[], kind: string) {
  const window = await sql<{ first: Date; last: Date; n: number }>`
    select min(expires_at) as first, max(expires_at) as last, count(*)::int as n
    from reservations where schedule_id = ${show.scheduleId}`.execute(t.db)
  const { first, last } = window.rows[0]!
  assert.equal(window.rows[0]!.n, HOLDS)

  // Liveness, generously: all released within 30 s of the last deadline.
  const held = async () =>
    (
      await sql<{ n: number }>`select count(*)::int as n from reservations
        where schedule_id = ${show.scheduleId} and status = 'held'`.execute(t.db)
    ).rows[0]!.n
  await waitFor('every hold released', async () => (await held()) === 0, {
    timeoutMs: Math.max(0, last.getTime() - Date.now()) + 30_000,
    intervalMs: 200,
    describe: async () => ({ stillHeld: await held() }),
  })

  const rows = await t.db
    .selectFrom('reservations')
    .select(['id', 'user_id', 'status', 'expires_at', 'ended_at'])
    .where('schedule_id', '=', show.scheduleId)
    .execute()
  assert.equal(rows.length, HOLDS)
  assert.ok(
    rows.every((r) => r.status === 'expired' && r.ended_at),
    'every hold ended as expired',
  )
  // Compared in PostgreSQL, to the microsecond (JavaScript Dates stop at the millisecond).
  const early = await sql<{ id: string }>`select id from reservations
    where schedule_id = ${show.scheduleId} and ended_at < expires_at`.execute(t.db)
  assert.deepEqual(early.rows, [], 'no hold was released before its deadline')

  // Every seat is back on sale, released by the worker (not merely shown available because its hold lapsed).
  const seats = await sql<{ status: string; reservation_id: string | null; n: number }>`
    select status, reservation_id, count(*)::int as n from seats where schedule_id = ${show.scheduleId}
    group by status, reservation_id`.execute(t.db)
  assert.deepEqual(seats.rows, [{ status: 'available', reservation_id: null, n: HOLDS }])
  const api = await t.api.get(`/schedules/${show.scheduleId}`)
  assert.equal(api.body.seats.available, HOLDS)

  // One reservation.expired per hold: each makes one inbox notification (unique per event id and user), so a hold
  // expired twice would show two for its fan.
  const perUser = async () =>
    sql<{ user_id: string; n: number }>`select user_id, count(*)::int as n from notifications
      where kind = 'reservation-expired' and user_id in (select user_id from reservations
        where schedule_id = ${show.scheduleId}) group by user_id`.execute(t.db)
  await waitFor(
    'a reservation-expired notification per hold',
    async () => (await perUser()).rows.length === HOLDS,
    {
      timeoutMs: 60_000,
      describe: async () => ({ users: (await perUser()).rows.length }),
    },
  )
  await quiesce(t, { timeoutMs: 90_000 })
  const counts = (await perUser()).rows
  assert.equal(counts.length, HOLDS)
  assert.deepEqual(
    counts.filter((c) => c.n !== 1),
    [],
    'exactly one reservation.expired per hold',
  )
  if (kind === 'local') {
    // The embedded log keeps the records themselves: one reservation.expired per reservation of this schedule.
    const ids = new Set(rows.map((r) => r.id))
    const log = await sql<{ key: string; n: number }>`
      select key, count(*)::int as n from event_log where topic = 'reservation.expired' group by key`.execute(
      t.db,
    )
    const ours = log.rows.filter((r) => ids.has(r.key))
    assert.equal(ours.length, HOLDS)
    assert.ok(ours.every((r) => r.n === 1))
  }
  assert.deepEqual(await deadLettersOf(t, new Set(fans.map((f) => f.id))), [])

  const lateness = rows.map((r) => r.ended_at!.getTime() - r.expires_at.getTime()).sort((x, y) => x - y)
  return {
    deadlineSpreadMs: last.getTime() - first.getTime(),
    latenessMs: { p50: percentile(lateness, 50), p99: percentile(lateness, 99), max: lateness.at(-1) },
  }
}

for (const target of targets()) {
  describe(`hold expiration on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test(`${HOLDS} holds taken over HTTP in one burst are each released once, on time`, async (t) => {
      const app = await startApp(target, 'hold_expiry_http', { HOLD_TTL_SECONDS: TTL_SECONDS })
      t.after(() => app.close())
      const show = await createSchedule(app.api, app.adminKey, { seats: HOLDS, price: PRICE })
      const fans = await seedAdmittedFans(app.db, {
        count: HOLDS,
        points: 0,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      const started = performance.now()
      const statuses = await holdOverHttp(app, show, fans)
      const burstMs = Math.round(performance.now() - started)
      assert.deepEqual(
        statuses.filter((s) => s !== 201),
        [],
        'every fan holds a seat',
      )
      const figures = await verifyReleased(app, show, fans, target.kind)
      report(`hold-expiration http-burst ${target.kind}`, { holds: HOLDS, holdBurstMs: burstMs, ...figures })
    })

    test(`${HOLDS} holds with the very same deadline are each released once, on time`, async (t) => {
      const app = await startApp(target, 'hold_expiry_same', { HOLD_TTL_SECONDS: TTL_SECONDS })
      t.after(() => app.close())
      const show = await createSchedule(app.api, app.adminKey, { seats: HOLDS, price: PRICE })
      const fans = await seedAdmittedFans(app.db, {
        count: HOLDS,
        points: 0,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      await holdAllAtOnce(app, show, fans)
      const figures = await verifyReleased(app, show, fans, target.kind)
      assert.equal(figures.deadlineSpreadMs, 0)
      report(`hold-expiration same-deadline ${target.kind}`, { holds: HOLDS, ...figures })
    })
  })
}
