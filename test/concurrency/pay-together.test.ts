import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import pg from 'pg'
import { parseEvent } from '../../src/events/envelope.ts'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'
import { type SeededFan, seedSale } from '../support/fans.ts'
import { countRoutineCalls } from '../support/routine-calls.ts'

// A batch of payments pays its plain items together (pay_reservations_together: one statement per step for all of
// them) and leaves the rest to pay_reservation, one by one, in the same transaction. What a fan gets back and what
// the database keeps must be the same either way; which way each item went is counted by PostgreSQL itself
// (pg_stat_xact_user_functions, in the batch's own transaction).

const PRICE = 1_000
const POINTS = 10_000

interface Item {
  fan: SeededFan
  reservationId: string
  key?: string
}
type Answer =
  | { ok: { replayed: boolean; status: number; receipt: Record<string, unknown>; spentSeq?: number } }
  | { state: string; message: string }

for (const kind of databaseKinds) {
  describe(`payments of a batch paid together (${kind})`, () => {
    let database: DatabaseHandle & { url?: string }
    let scheduleId: string
    let fans: SeededFan[]
    let seats: string[]
    let nextFan = 0
    let nextSeat = 0

    before(async () => {
      database = await createTestDatabase(kind, 'pay_together', 4)
      ;({ scheduleId, seats, fans } = await seedSale(database.db, {
        seats: 60,
        fans: 40,
        price: PRICE,
        points: POINTS,
      }))
    })
    after(() => database?.close())

    /** A fan not used before, holding `holds` seats not held before. */
    async function fanHolding(holds = 1): Promise<{ fan: SeededFan; reservations: string[] }> {
      const fan = fans[nextFan++]!
      const reservations: string[] = []
      for (let i = 0; i < holds; i++) {
        const held = await sql<{ result: { id: string } }>`
          select hold_seat(${scheduleId}::uuid, ${seats[nextSeat++]!}::uuid, ${fan.id}::uuid, 300, 4) as result`.execute(
          database.db,
        )
        reservations.push(held.rows[0]!.result.id)
      }
      return { fan, reservations }
    }

    /**
     * One batch in its own transaction: the answers in order, and how often each routine returned in it (a call
     * that raised, caught by the batch, is not counted by PostgreSQL).
     */
    async function payBatch(
      items: readonly Item[],
    ): Promise<{ answers: Answer[]; together: number; alone: number }> {
      const { result, calls } = await countRoutineCalls(
        database.db,
        ['pay_reservations_together', 'pay_reservation'],
        (tx) =>
          sql<{ r: Answer }>`
          select r from pay_reservation_batch(
            ${items.map((i) => i.fan.id)}::uuid[], ${items.map((i) => i.reservationId)}::uuid[],
            ${items.map(() => scheduleId)}::uuid[], ${items.map(() => null)}::uuid[],
            ${items.map((i) => i.key ?? `key-${i.reservationId}`)}::text[],
            ${items.map(() => 'hash')}::text[]) as r`.execute(tx),
      )
      return {
        answers: result.rows.map((r) => r.r),
        together: calls.pay_reservations_together!,
        alone: calls.pay_reservation!,
      }
    }

    async function payAlone(item: Item): Promise<Answer> {
      const { rows } = await sql<{ result: Answer extends { ok: infer R } ? R : never }>`
        select pay_reservation(${item.fan.id}::uuid, ${item.reservationId}::uuid, ${scheduleId}::uuid, null::uuid,
                               ${item.key ?? `key-${item.reservationId}`}, 'hash') as result`.execute(
        database.db,
      )
      return { ok: rows[0]!.result }
    }

    /** Everything a payment left in the database, with its generated ids and times replaced by their kind. */
    async function kept(reservationId: string): Promise<unknown> {
      const db = database.db
      const reservation = await db
        .selectFrom('reservations')
        .select(['status', 'user_id', 'confirmed_at'])
        .where('id', '=', reservationId)
        .executeTakeFirstOrThrow()
      const payment = await db
        .selectFrom('payments')
        .selectAll()
        .where('reservation_id', '=', reservationId)
        .executeTakeFirstOrThrow()
      const seat = await sql<{ status: string; held_until: Date | null }>`
        select s.status, s.held_until from seats s join reservations r on r.seat_id = s.id
         where r.id = ${reservationId}`.execute(db)
      const seatLabel = await sql<{ label: string }>`
        select s.label from seats s join reservations r on r.seat_id = s.id where r.id = ${reservationId}`.execute(
        db,
      )
      const ledger = await db
        .selectFrom('wallet_ledger')
        .select(['amount', 'kind', 'balance_after'])
        .where('reference', '=', `payment:${payment.id}`)
        .execute()
      const entry = await db
        .selectFrom('queue_entries')
        .select(['status', 'seq'])
        .where('schedule_id', '=', scheduleId)
        .where('user_id', '=', reservation.user_id)
        .executeTakeFirstOrThrow()
      const revocations = await db
        .selectFrom('queue_revocations')
        .select(['entry_seq', 'reason'])
        .where('schedule_id', '=', scheduleId)
        .where('user_id', '=', reservation.user_id)
        .execute()
      const events = await db
        .selectFrom('outbox')
        .select(['topic', 'key', 'event'])
        .where('topic', '=', 'reservation.confirmed')
        .where('key', '=', reservationId)
        .execute()
      const key = await db
        .selectFrom('idempotency_keys')
        .select(['scope', 'key', 'request_hash', 'status_code', 'response'])
        .where('user_id', '=', reservation.user_id)
        .where('scope', '=', `payment:${reservationId}`)
        .execute()
      const seatId = await db
        .selectFrom('reservations')
        .select('seat_id')
        .where('id', '=', reservationId)
        .executeTakeFirstOrThrow()
      const all = {
        reservation: { status: reservation.status, confirmed: reservation.confirmed_at instanceof Date },
        payment: { ...payment, id: typeof payment.id, created_at: typeof payment.created_at },
        seat: seat.rows,
        ledger,
        entry: entry.status,
        revocations: revocations.map((r) => ({
          reason: r.reason,
          sameSeq: Number(r.entry_seq) === Number(entry.seq),
        })),
        events: events.map((e) => {
          const event = parseEvent(
            typeof e.event === 'string' ? e.event : JSON.stringify(e.event),
            'reservation.confirmed',
          )
          const data = event.data as Record<string, unknown>
          const label = data.seatLabel === seatLabel.rows[0]!.label ? 'its seat' : data.seatLabel
          return {
            topic: e.topic,
            key: e.key,
            data: { ...data, paymentId: typeof data.paymentId, confirmedAt: 'time', seatLabel: label },
          }
        }),
        key: key.map((k) => ({ ...k, response: Object.keys(k.response as object).sort() })),
      }
      // This payment's own ids, named: two payments compare equal when they did the same to their own rows.
      return JSON.parse(
        JSON.stringify(all)
          .replaceAll(reservationId, '<reservation>')
          .replaceAll(reservation.user_id, '<fan>')
          .replaceAll(seatId.seat_id, '<seat>'),
      )
    }

    /** A receipt with its own ids and time replaced by their kind, to compare two fans' receipts. */
    function shape(answer: Answer): unknown {
      assert.ok('ok' in answer, `paid: ${JSON.stringify(answer)}`)
      const { receipt, ...rest } = answer.ok
      return {
        ...rest,
        spentSeq: typeof rest.spentSeq,
        receipt: Object.fromEntries(
          Object.entries(receipt).map(([k, v]) => [
            k,
            (k.endsWith('Id') && v !== null) || k === 'seatLabel' || k === 'confirmedAt' ? typeof v : v,
          ]),
        ),
      }
    }

    test('plain payments are paid together, and leave what paying one by one leaves', async () => {
      const alone = await fanHolding()
      const aloneAnswer = await payAlone({ fan: alone.fan, reservationId: alone.reservations[0]! })
      const together = await Promise.all([1, 2, 3, 4].map(() => fanHolding()))
      const items = together.map((t) => ({ fan: t.fan, reservationId: t.reservations[0]! }))
      const batch = await payBatch(items)
      assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 1, alone: 0 })
      for (const [i, answer] of batch.answers.entries()) {
        assert.deepEqual(shape(answer), shape(aloneAnswer), `item ${i} answers as a payment alone does`)
        assert.ok('ok' in answer)
        assert.equal(
          answer.ok.receipt.reservationId,
          items[i]!.reservationId,
          'answers are in the items order',
        )
        assert.equal(answer.ok.receipt.balance, POINTS - PRICE)
        const label = await sql<{ label: string }>`
          select s.label from seats s join reservations r on r.seat_id = s.id
           where r.id = ${items[i]!.reservationId}`.execute(database.db)
        assert.equal(answer.ok.receipt.seatLabel, label.rows[0]!.label)
        assert.deepEqual(await kept(items[i]!.reservationId), await kept(alone.reservations[0]!))
      }
      const spent = await sql<{ n: number }>`
        select count(distinct entry_seq)::int as n from queue_revocations
         where user_id = any(${items.map((i) => i.fan.id)}::uuid[])`.execute(database.db)
      assert.equal(spent.rows[0]!.n, items.length, "each fan's own admission spent")

      // The same requests again: replays of the stored receipts, through pay_reservation (nothing is held now).
      const again = await payBatch(items)
      assert.deepEqual({ together: again.together, alone: again.alone }, { together: 1, alone: items.length })
      for (const [i, answer] of again.answers.entries()) {
        assert.ok('ok' in answer && answer.ok.replayed, 'a replay')
        assert.deepEqual(answer.ok.receipt, (batch.answers[i] as { ok: { receipt: unknown } }).ok.receipt)
      }
    })

    test('items it cannot take go one by one in the same batch, with their own answers', async () => {
      const plain = await Promise.all([1, 2].map(() => fanHolding()))
      const twice = await fanHolding(2)
      const expired = await fanHolding()
      await sql`update seats set held_until = now() - interval '1 second'
                 where reservation_id = ${expired.reservations[0]!}`.execute(database.db)
      await sql`update reservations set expires_at = now() - interval '1 second'
                 where id = ${expired.reservations[0]!}`.execute(database.db)
      const stranger = await fanHolding()
      const items: Item[] = [
        { fan: plain[0]!.fan, reservationId: plain[0]!.reservations[0]! },
        { fan: twice.fan, reservationId: twice.reservations[0]! },
        { fan: expired.fan, reservationId: expired.reservations[0]! },
        { fan: plain[1]!.fan, reservationId: plain[1]!.reservations[0]! },
        { fan: twice.fan, reservationId: twice.reservations[1]! },
        { fan: fans[nextFan++]!, reservationId: stranger.reservations[0]! },
      ]
      const batch = await payBatch(items)
      // The two plain ones together; the fan paying twice, the expired hold and someone else's hold alone. PostgreSQL
      // counts only the calls that returned: the two payments of the fan paying twice, not the two refusals.
      assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 1, alone: 2 })
      const outcome = batch.answers.map((a) =>
        'ok' in a ? { status: a.ok.status, spent: a.ok.spentSeq !== undefined } : a.message,
      )
      assert.deepEqual(outcome, [
        { status: 201, spent: true },
        { status: 201, spent: false }, // the fan still holds their second seat
        'HOLD_EXPIRED',
        { status: 201, spent: true },
        { status: 201, spent: true }, // now nothing is left to pay: the admission is spent
        'FORBIDDEN',
      ])
      const balance = await database.db
        .selectFrom('wallets')
        .select('balance')
        .where('user_id', '=', twice.fan.id)
        .executeTakeFirstOrThrow()
      assert.equal(balance.balance, POINTS - 2 * PRICE)
      const strangerSeat = await sql<{ status: string }>`
        select r.status from reservations r where r.id = ${stranger.reservations[0]!}`.execute(database.db)
      assert.equal(strangerSeat.rows[0]!.status, 'held', "someone else's hold is untouched")
    })

    // Two sessions at once: PostgreSQL only (PGlite has one connection).
    if (kind === 'postgres')
      test('a wallet spent while the batch waits for it: the batch pays the others and refuses that one', async () => {
        const payers = await Promise.all([1, 2, 3].map(() => fanHolding()))
        const items = payers.map((p) => ({ fan: p.fan, reservationId: p.reservations[0]! }))
        const victim = items[1]!.fan.id
        // Another session locks the second fan's wallet, so the batch reads it covered and then waits on it.
        const other = new pg.Client({ connectionString: database.url })
        await other.connect()
        try {
          await other.query('begin')
          await other.query('select balance from wallets where user_id = $1 for update', [victim])
          const paying = payBatch(items)
          for (let i = 0; ; i++) {
            const { rows } = await other.query<{ n: number }>(
              `select count(*)::int as n from pg_stat_activity
                where wait_event_type = 'Lock' and datname = current_database()`,
            )
            if (rows[0]!.n > 0) break
            assert.ok(i < 200, 'the batch waits for the wallet')
            await new Promise((resolve) => setTimeout(resolve, 25))
          }
          await other.query('update wallets set balance = 0 where user_id = $1', [victim])
          await other.query('commit')
          const batch = await paying
          // The pass together was undone whole, and every item then went alone.
          // The pass together raised (a seat or wallet not as it read it), which undid it: PostgreSQL counts only
          // calls that returned, so 0. Every item then went alone: two paid, the third refused (not counted).
          assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 0, alone: 2 })
          const outcome = batch.answers.map((a) => ('ok' in a ? a.ok.status : a.message))
          assert.deepEqual(outcome, [201, 'INSUFFICIENT_POINTS', 201])
        } finally {
          await other.end()
        }
        const victimRows = await sql<{ payments: number; ledger: number; reservation: string }>`
          select (select count(*)::int from payments where user_id = ${victim}) as payments,
                 (select count(*)::int from wallet_ledger where user_id = ${victim} and kind = 'payment') as ledger,
                 (select status from reservations where id = ${items[1]!.reservationId}) as reservation`.execute(
          database.db,
        )
        assert.deepEqual(victimRows.rows[0], { payments: 0, ledger: 0, reservation: 'held' })
        for (const i of [0, 2])
          assert.equal(((await kept(items[i]!.reservationId)) as { entry: string }).entry, 'completed')
      })
  })
}
