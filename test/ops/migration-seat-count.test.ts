// 0014 writes each schedule's seat count beside its sales tally: a database made before it gets the count of the
// seats its schedules already have, and a schedule made after it gets it at creation.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { sql } from 'kysely'
import { Migrator } from 'kysely/migration'
import { migrate, openPglite } from '../../src/platform/db.ts'
import { migrationProvider } from '../../src/platform/migrations/index.ts'

test('0014 backfills the seat count of schedules made before it; one with no seats keeps null (its readers count, as before)', async (t) => {
  const { db, close } = await openPglite(undefined)
  t.after(close)
  const migrator = new Migrator({ db, provider: migrationProvider })
  const before = await migrator.migrateTo('0013-one-seat-label-index')
  assert.equal(before.error, undefined)

  const concert = randomUUID()
  await sql`insert into concerts (id, title, artist, venue) values (${concert}, 'T', 'A', 'V')`.execute(db)
  const schedules = [randomUUID(), randomUUID(), randomUUID()]
  for (const [i, id] of schedules.entries()) {
    await sql`insert into schedules (id, concert_id, starts_at, sale_opens_at) values (${id}, ${concert}, now(), now())`.execute(
      db,
    )
    // 4 seats, 1 seat, and none for the third
    const seats = [4, 1, 0][i]!
    for (let n = 1; n <= seats; n++) {
      await sql`insert into seats (id, schedule_id, label, grade, price) values (${randomUUID()}, ${id}, ${`R-${n}`}, 'R', 1000)`.execute(
        db,
      )
    }
    await sql`insert into schedule_sales (schedule_id, sold_count) values (${id}, ${i})`.execute(db)
  }

  await migrate(db)
  const rows = await sql<{ schedule_id: string; seat_count: number | null; sold_count: number }>`
    select schedule_id, seat_count, sold_count from schedule_sales`.execute(db)
  const byId = new Map(rows.rows.map((r) => [r.schedule_id, r]))
  assert.deepEqual(
    schedules.map((id) => [byId.get(id)?.seat_count, byId.get(id)?.sold_count]),
    [
      [4, 0],
      [1, 1],
      [null, 2],
    ],
  )
})
