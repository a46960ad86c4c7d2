import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import { insertConcert, insertSchedule } from '../../src/catalog/catalog-sql.ts'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { prepareQueue } from '../../src/queue/queue-sql.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'
import { type SeededFan, seedAdmittedFans } from '../support/fans.ts'

// A hold, a payment or a cancellation in the middle of a big sale must read the fan's own rows, not every hold of the
// sale, whatever the planner's statistics say. The trap: statistics taken before the sale (here: after earlier sales whose holds were
// all paid) say almost no reservation is held, so the partial index of held reservations looks empty and cheap;
// then the sale's thousands of holds arrive, and a big table is not analyzed again before it ends. Checked by the
// index scans PostgreSQL counts, so it fails on the plan, not on a clock.

const EARLIER = 300
const HOLDS = 3_000
const PAYMENTS = 30
const LATE = 30

const onPostgres = databaseKinds.includes('postgres')
if (!onPostgres) test('reservation plans need PostgreSQL', { skip: 'TEST_DATABASES leaves postgres out' })

let database: DatabaseHandle
let scheduleId: string
let fans: SeededFan[]
let lateFans: SeededFan[]
let lateSeats: string[]
const reservations: string[] = []

/** Each fan holds the seat of the same index, in transactions of 500; the reservations' ids in order. */
async function holdAll(holders: readonly SeededFan[], seatIds: readonly string[]): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < holders.length; i += 500) {
    const chunk = holders.slice(i, i + 500)
    const answers = await sql<{ r: { ok?: { id: string } } }>`
      select r from hold_seat_batch(
        ${chunk.map(() => scheduleId)}::uuid[], ${seatIds.slice(i, i + 500)}::uuid[],
        ${chunk.map((f) => f.id)}::uuid[], ${chunk.map(() => 300)}::integer[], ${chunk.map(() => 4)}::integer[]) as r`.execute(
      database.db,
    )
    for (const a of answers.rows) {
      assert.ok(a.r.ok?.id, `a hold failed: ${JSON.stringify(a.r)}`)
      ids.push(a.r.ok.id)
    }
  }
  return ids
}

async function pay(db: DatabaseHandle['db'], fan: SeededFan, reservationId: string): Promise<void> {
  const result = await sql<{ result: { status: number } }>`
    select pay_reservation(${fan.id}::uuid, ${reservationId}::uuid, ${scheduleId}::uuid, null::uuid, ${uuidv7()},
                           'probe') as result`.execute(db)
  assert.equal(result.rows[0]!.result.status, 201)
}

before(async () => {
  if (!onPostgres) return
  database = await createTestDatabase('postgres', 'payment_plans', 4)
  const db = database.db
  const concert = await insertConcert(db, { title: 'Plans', artist: 'Probe', venue: 'Hall' })
  const schedule = await insertSchedule(db, {
    concertId: concert.id,
    startsAt: new Date(Date.now() + 86_400_000),
    saleOpensAt: new Date(),
    seats: [{ grade: 'R', price: 1_000, count: EARLIER + HOLDS + LATE }],
  })
  scheduleId = schedule.id
  await db.transaction().execute((tx) => prepareQueue(tx, scheduleId))
  const all = await seedAdmittedFans(db, {
    count: EARLIER + HOLDS + LATE,
    points: 10_000,
    secret: 'p'.repeat(32),
    scheduleId,
  })
  const seatIds = (
    await db.selectFrom('seats').select('id').where('schedule_id', '=', scheduleId).orderBy('label').execute()
  ).map((s) => s.id)
  // Earlier sales: held and paid, then analyzed: no reservation is held as far as the statistics know.
  const earlier = all.slice(0, EARLIER)
  const paid = await holdAll(earlier, seatIds.slice(0, EARLIER))
  for (const [i, fan] of earlier.entries()) await pay(db, fan, paid[i]!)
  await sql`analyze reservations`.execute(db)
  // The sale: every other seat held by its own fan.
  fans = all.slice(EARLIER, EARLIER + HOLDS)
  reservations.push(...(await holdAll(fans, seatIds.slice(EARLIER, EARLIER + HOLDS))))
  lateFans = all.slice(EARLIER + HOLDS)
  lateSeats = seatIds.slice(EARLIER + HOLDS)
})

after(() => database?.close())

/** Index scans so far by index name. */
async function indexScans(): Promise<Map<string, number>> {
  const { rows } = await sql<{ name: string; scans: string }>`
    select indexrelname as name, idx_scan::text as scans from pg_stat_user_indexes
     where relname = 'reservations'`.execute(database.db)
  return new Map(rows.map((r) => [r.name, Number(r.scans)]))
}

/**
 * Runs `work` and answers how many scans each index of reservations gained, once the statistics show at least
 * `primaryKeyScans` of its primary key (backends report them when idle, a second or so later).
 */
async function scansDuring(
  primaryKeyScans: number,
  work: () => Promise<void>,
): Promise<(name: string) => number> {
  const before = await indexScans()
  await work()
  const grew = (now: Map<string, number>, name: string) => (now.get(name) ?? 0) - (before.get(name) ?? 0)
  let after = await indexScans()
  for (let i = 0; i < 50 && grew(after, 'reservations_pkey') < primaryKeyScans; i++) {
    await sleep(100)
    after = await indexScans()
  }
  assert.ok(grew(after, 'reservations_pkey') >= primaryKeyScans, 'the statistics counted the work')
  return (name) => grew(after, name)
}

test(`paying amid ${HOLDS} holds reads the fan's own reservations, not the index of every hold`, {
  skip: !onPostgres,
}, async () => {
  // One after another on one connection, past the 5 calls after which PL/pgSQL may keep a generic plan. Each payment
  // reads its reservation by its key.
  const grew = await scansDuring(PAYMENTS, () =>
    database.db.connection().execute(async (db) => {
      for (let i = 0; i < PAYMENTS; i++) await pay(db, fans[i]!, reservations[i]!)
    }),
  )
  assert.equal(grew('reservations_held_expiry'), 0, 'no payment scanned the index of every held reservation')
  const seatsSold = await sql<{ n: number }>`
    select count(*)::int as n from seats where schedule_id = ${scheduleId} and status = 'sold'`.execute(
    database.db,
  )
  assert.equal(seatsSold.rows[0]!.n, EARLIER + PAYMENTS)
})

test(`paying ${PAYMENTS} in one batch amid ${HOLDS} holds reads the fans' own reservations`, {
  skip: !onPostgres,
}, async () => {
  // The batch pays its plain items together (pay_reservations_together), with one statement per step for all.
  const payers = fans.slice(PAYMENTS, 2 * PAYMENTS)
  const held = reservations.slice(PAYMENTS, 2 * PAYMENTS)
  const grew = await scansDuring(PAYMENTS, async () => {
    const { rows } = await sql<{ r: { ok?: { status: number } } }>`
      select r from pay_reservation_batch(${payers.map((f) => f.id)}::uuid[], ${held}::uuid[],
        ${payers.map(() => scheduleId)}::uuid[], ${payers.map(() => null)}::uuid[],
        ${payers.map(() => uuidv7())}::text[], ${payers.map(() => 'probe')}::text[]) as r`.execute(
      database.db,
    )
    assert.deepEqual(
      rows.map((row) => row.r.ok?.status),
      payers.map(() => 201),
    )
  })
  assert.equal(grew('reservations_held_expiry'), 0, 'no batch scanned the index of every held reservation')
  const confirmed = await sql<{ n: number }>`
    select count(*)::int as n from reservations where id = any(${held}::uuid[]) and status = 'confirmed'`.execute(
    database.db,
  )
  assert.equal(confirmed.rows[0]!.n, PAYMENTS)
})

test(`holding and cancelling amid ${HOLDS} holds read the fan's own reservations`, {
  skip: !onPostgres,
}, async () => {
  // Each late fan holds a seat (counting the holds of their admission first) and cancels it (read by its key).
  const grew = await scansDuring(LATE, () =>
    database.db.connection().execute(async (db) => {
      for (const [i, fan] of lateFans.entries()) {
        const held = await sql<{ result: { id: string } }>`
          select hold_seat(${scheduleId}::uuid, ${lateSeats[i]!}::uuid, ${fan.id}::uuid, 300, 4) as result`.execute(
          db,
        )
        await sql`select cancel_hold(${held.rows[0]!.result.id}::uuid, ${fan.id}::uuid)`.execute(db)
      }
    }),
  )
  assert.equal(grew('reservations_held_expiry'), 0, 'no hold or cancellation scanned the index of every hold')
  assert.equal(grew('reservations_one_sale_per_seat'), 0, 'nor the index of every sold seat')
  const cancelled = await sql<{ n: number }>`
    select count(*)::int as n from reservations where schedule_id = ${scheduleId} and status = 'cancelled'`.execute(
    database.db,
  )
  assert.equal(cancelled.rows[0]!.n, LATE)
})
