import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import pg from 'pg'
import { parseEvent } from '../../src/events/envelope.ts'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'
import { type SeededFan, seedSale } from '../support/fans.ts'
import { countRoutineCalls } from '../support/routine-calls.ts'

// A batch of holds takes its plain items together (hold_seats_together: one statement per step for all of them) and
// leaves the rest, and the seats it did not win, to hold_seat, one by one, in the same transaction. What a fan gets
// back and what the database keeps must be the same either way; which way each item went is counted by PostgreSQL
// (pg_stat_xact_user_functions, in the batch's own transaction, which counts only the calls that returned).

const PRICE = 1_000
const TTL = 300
const MAX_SEATS = 4

interface Item {
  fan: SeededFan
  seatId: string
}
type Answer = { ok: Record<string, unknown> } | { state: string; message: string }

for (const kind of databaseKinds) {
  describe(`holds of a batch taken together (${kind})`, () => {
    let database: DatabaseHandle & { url?: string }
    let scheduleId: string
    let fans: SeededFan[]
    let seats: string[]
    let nextFan = 0
    let nextSeat = 0

    before(async () => {
      database = await createTestDatabase(kind, 'hold_together', 4)
      ;({ scheduleId, seats, fans } = await seedSale(database.db, {
        seats: 60,
        fans: 40,
        price: PRICE,
        points: 10_000,
      }))
    })
    after(() => database?.close())

    const fan = () => fans[nextFan++]!
    const seat = () => seats[nextSeat++]!

    /** One batch in its own transaction: the answers in order, and how often each routine returned in it. */
    async function holdBatch(
      items: readonly Item[],
    ): Promise<{ answers: Answer[]; together: number; alone: number }> {
      const { result, calls } = await countRoutineCalls(
        database.db,
        ['hold_seats_together', 'hold_seat'],
        (tx) =>
          sql<{ r: Answer }>`
          select r from hold_seat_batch(
            ${items.map(() => scheduleId)}::uuid[], ${items.map((i) => i.seatId)}::uuid[],
            ${items.map((i) => i.fan.id)}::uuid[], ${items.map(() => TTL)}::integer[],
            ${items.map(() => MAX_SEATS)}::integer[]) as r`.execute(tx),
      )
      return {
        answers: result.rows.map((r) => r.r),
        together: calls.hold_seats_together!,
        alone: calls.hold_seat!,
      }
    }

    async function holdAlone(item: Item): Promise<Answer> {
      const { rows } = await sql<{ result: Record<string, unknown> }>`
        select hold_seat(${scheduleId}::uuid, ${item.seatId}::uuid, ${item.fan.id}::uuid, ${TTL}, ${MAX_SEATS})
          as result`.execute(database.db)
      return { ok: rows[0]!.result }
    }

    /** Everything a hold left in the database, with its own ids and times named. */
    async function kept(answer: Answer, item: Item): Promise<unknown> {
      assert.ok('ok' in answer, `held: ${JSON.stringify(answer)}`)
      const id = answer.ok.id as string
      const db = database.db
      const reservation = await sql<Record<string, unknown>>`
        select schedule_id = ${scheduleId} as schedule, seat_id, user_id, price, status,
               expires_at - created_at as ttl, confirmed_at, ended_at
          from reservations where id = ${id}`.execute(db)
      const seatRow = await sql<Record<string, unknown>>`
        select status, reservation_id, held_until = (select expires_at from reservations where id = ${id}) as until,
               offered_to, offered_until
          from seats where id = ${item.seatId}`.execute(db)
      const events = await db
        .selectFrom('outbox')
        .select(['topic', 'key', 'event'])
        .where('topic', '=', 'reservation.held')
        .where('key', '=', id)
        .execute()
      const all = {
        answer: {
          ...answer.ok,
          expiresAt: typeof answer.ok.expiresAt,
          createdAt: typeof answer.ok.createdAt,
        },
        reservation: reservation.rows.map((r) => ({ ...r, ttl: JSON.stringify(r.ttl) })),
        seat: seatRow.rows,
        events: events.map((e) => {
          const event = parseEvent(
            typeof e.event === 'string' ? e.event : JSON.stringify(e.event),
            'reservation.held',
          )
          return { topic: e.topic, key: e.key, data: { ...(event.data as object), expiresAt: 'time' } }
        }),
      }
      const label = await db
        .selectFrom('seats')
        .select('label')
        .where('id', '=', item.seatId)
        .executeTakeFirstOrThrow()
      // This hold's own ids, named: two holds compare equal when they did the same to their own rows.
      return JSON.parse(
        JSON.stringify(all)
          .replaceAll(id, '<reservation>')
          .replaceAll(item.fan.id, '<fan>')
          .replaceAll(item.seatId, '<seat>')
          .replaceAll(`"${label.label}"`, '"<label>"'),
      )
    }

    test('plain holds are taken together, and leave what holding one by one leaves', async () => {
      const alone = { fan: fan(), seatId: seat() }
      const aloneAnswer = await holdAlone(alone)
      const items = [1, 2, 3, 4].map(() => ({ fan: fan(), seatId: seat() }))
      const batch = await holdBatch(items)
      assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 1, alone: 0 })
      const reference = await kept(aloneAnswer, alone)
      for (const [i, answer] of batch.answers.entries()) {
        assert.ok('ok' in answer)
        assert.equal(answer.ok.seatId, items[i]!.seatId, 'answers are in the items order')
        assert.deepEqual(await kept(answer, items[i]!), reference, `item ${i} as a hold alone`)
      }
    })

    test('items it cannot take go one by one in the same batch, with their own answers', async () => {
      const twice = fan()
      const contested = seat()
      const taken = seat()
      await holdAlone({ fan: fan(), seatId: taken })
      const notAdmitted = fan()
      await sql`update queue_entries set status = 'left' where user_id = ${notAdmitted.id}`.execute(
        database.db,
      )
      const items: Item[] = [
        { fan: fan(), seatId: seat() },
        { fan: twice, seatId: seat() },
        { fan: fan(), seatId: contested },
        { fan: fan(), seatId: taken },
        { fan: twice, seatId: seat() },
        { fan: fan(), seatId: contested },
        { fan: notAdmitted, seatId: seat() },
        { fan: fan(), seatId: seat() },
      ]
      const batch = await holdBatch(items)
      const outcome = batch.answers.map((a) => ('ok' in a ? ('taken' in a.ok ? 'taken' : 'held') : a.message))
      assert.deepEqual(outcome, [
        'held',
        'held', // the fan holding two seats: one by one
        'held', // the first of two fans on one seat wins it
        'taken', // a seat held before the batch: not won together, so answered alone
        'held',
        'taken',
        'QUEUE_TOKEN_REVOKED',
        'held',
      ])
      // Together: the first, the one on the held seat (not won: left), the last. Alone and returned: the fan's two,
      // both on the contested seat, the one on the held seat (each answered, taken or held); the revoked one raised.
      assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 1, alone: 5 })
    })

    // Two sessions at once: PostgreSQL only (PGlite has one connection).
    if (kind === 'postgres')
      test('a seat another attempt has locked is skipped, not waited for, as hold_seat does', async () => {
        const locked = seat()
        const items = [
          { fan: fan(), seatId: seat() },
          { fan: fan(), seatId: locked },
          { fan: fan(), seatId: seat() },
        ]
        const other = new pg.Client({ connectionString: database.url })
        await other.connect()
        try {
          await other.query('begin')
          await other.query('select 1 from seats where id = $1 for update', [locked])
          const batch = await holdBatch(items)
          const outcome = batch.answers.map((a) =>
            'ok' in a ? ('taken' in a.ok ? 'taken' : 'held') : a.message,
          )
          assert.deepEqual(outcome, ['held', 'taken', 'held'])
          // The two free seats together; the locked one left to hold_seat, which skips it too and answers it.
          assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 1, alone: 1 })
          await other.query('rollback')
        } finally {
          await other.end()
        }
        const status = await database.db
          .selectFrom('seats')
          .select('status')
          .where('id', '=', locked)
          .executeTakeFirstOrThrow()
        assert.equal(status.status, 'available')
      })
  })
}
