import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type pg from 'pg'
import { Api } from '../support/api-client.ts'
import { createTestDatabase } from '../support/databases.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import { buy, createSchedule, sleep } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// The fans' routines run on connections of their own (DatabaseHandle.routinePool). A sale's first wave should meet
// them open and warm, however long the instance was quiet before it. PGlite has no pool: PostgreSQL only.
describe("the routines' connections are ready for a sale's first wave [postgres]", () => {
  test("they outlive pg's idle timeout of 10 s: the same session answers after 10.5 s of quiet", async () => {
    const database = await createTestDatabase('postgres', 'routine_keep', 2)
    try {
      const pool = database.routinePool!
      assert.equal(pool.options.max, 1)
      const pid = async () =>
        (await pool.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid
      const before = await pid()
      await sleep(10_500)
      assert.equal(pool.totalCount, 1, 'the idle connection was closed')
      assert.equal(
        await pid(),
        before,
        'a new session answered: the sale would pay its connection and warm-up',
      )
    } finally {
      await database.close()
    }
  })

  describe('a started instance', () => {
    const secret = randomBytes(32).toString('hex')
    let t: TestApp
    before(async () => {
      t = await startTestApp('postgres', 'routine_warm', { AUTH_SECRET: secret })
    })
    after(async () => {
      await t?.close()
    })

    test('has every routine connection open, each with the routines prepared and no transaction left open', async () => {
      const pool = t.app.database.routinePool!
      assert.ok(pool.options.max > 1)
      assert.equal(pool.totalCount, pool.options.max, 'connections were left to the first fans to open')
      const clients: pg.PoolClient[] = []
      try {
        for (let i = 0; i < pool.options.max; i++) clients.push(await pool.connect())
        assert.equal(pool.totalCount, pool.options.max)
        const pids = new Set<number>()
        for (const client of clients) {
          const { rows } = await client.query<{ name: string }>('select name from pg_prepared_statements')
          const names = new Set(rows.map((r) => r.name))
          for (const routine of ['hold_seat', 'pay_reservation', 'enter_queue', 'request_coupon']) {
            assert.ok(names.has(routine), `${routine} not prepared on a routine connection`)
            assert.ok(names.has(`${routine}_batch`), `${routine}_batch not prepared on a routine connection`)
          }
          pids.add((await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid)
        }
        const { rows } = await clients[0]!.query<{ state: string }>(
          'select state from pg_stat_activity where pid = any($1::int[]) and pid <> pg_backend_pid()',
          [[...pids]],
        )
        assert.equal(rows.length, pids.size - 1)
        for (const row of rows) assert.equal(row.state, 'idle', 'a warm-up transaction was left open')
      } finally {
        for (const client of clients) client.release()
      }
    })

    test('serves holds and payments, alone and together, on the statements it prepared', async () => {
      const api = new Api(t.url)
      const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 6 })
      const fans = await seedAdmittedFans(t.app.database.db, {
        count: 6,
        points: 10_000_000,
        secret,
        scheduleId,
      })
      // One alone, then five at once (a batch when they meet at the database).
      await buy(api, fans[0]!, scheduleId, seatIds[0]!)
      const bought = await Promise.all(
        fans.slice(1).map((fan, i) => buy(api, fan, scheduleId, seatIds[i + 1]!)),
      )
      assert.equal(bought.length, 5)
      const { rows } = await t.app.database.pool!.query<{ n: number }>(
        `select count(*)::int as n from reservations where schedule_id = $1 and status = 'confirmed'`,
        [scheduleId],
      )
      assert.equal(rows[0]!.n, 6)
    })
  })
})
