import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import { insertCoupon } from '../../src/coupon/coupons-sql.ts'
import { decideCouponRequests } from '../../src/coupon/decide-coupon-requests.ts'
import { parseEvent } from '../../src/events/envelope.ts'
import type { DatabaseHandle, Db } from '../../src/platform/db.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'
import { withoutWaitingForLocks } from '../support/locks.ts'
import { countRoutineCalls } from '../support/routine-calls.ts'

// A batch of first-come coupon requests records its new requests together (request_coupons_together: one statement
// for all of them) and leaves the rest to request_coupon, one by one, in the same transaction. The answers, the rows
// and the events must be what one by one gives, and the new requests keep the items' order: the deciding handler
// issues the coupon in the order of the requests' events. Which way each item went is counted by PostgreSQL
// (pg_stat_xact_user_functions, in the batch's own transaction, which counts only the calls that returned).

type Answer =
  | { ok: { created: boolean; request: Record<string, unknown> } }
  | { state: string; message: string }

for (const kind of databaseKinds) {
  describe(`coupon requests of a batch recorded together (${kind})`, () => {
    let database: DatabaseHandle
    let couponId: string
    let users: string[]
    let nextUser = 0

    before(async () => {
      database = await createTestDatabase(kind, 'coupon_together', 4)
      const coupon = await insertCoupon(database.db, {
        name: 'First come',
        discountType: 'fixed',
        discountValue: 500,
        totalQuantity: 10,
      })
      couponId = coupon.id
      users = Array.from({ length: 30 }, () => uuidv7())
      await database.db
        .insertInto('users')
        .values(users.map((id) => ({ id, email: `${id}@seed.test`, name: 'fan', password_hash: 'x' })))
        .execute()
    })
    after(() => database?.close())

    const user = () => users[nextUser++]!

    async function requestBatch(
      items: readonly { coupon: string; user: string }[],
    ): Promise<{ answers: Answer[]; together: number; alone: number }> {
      const { result, calls } = await countRoutineCalls(
        database.db,
        ['request_coupons_together', 'request_coupon'],
        (tx) =>
          sql<{ r: Answer }>`
            select r from request_coupon_batch(${items.map((i) => i.coupon)}::uuid[],
                                               ${items.map((i) => i.user)}::uuid[]) as r`.execute(tx),
      )
      return {
        answers: result.rows.map((r) => r.r),
        together: calls.request_coupons_together!,
        alone: calls.request_coupon!,
      }
    }

    /** A request's answer, row and event, with its own ids and times named. */
    async function kept(answer: Answer, userId: string): Promise<unknown> {
      assert.ok('ok' in answer, `asked: ${JSON.stringify(answer)}`)
      const id = answer.ok.request.requestId as string
      const row = await database.db
        .selectFrom('coupon_requests')
        .select(['coupon_id', 'user_id', 'status', 'reason', 'user_coupon_id', 'decided_at'])
        .where('id', '=', id)
        .execute()
      const events = await database.db
        .selectFrom('outbox')
        .select(['topic', 'key', 'event'])
        .where('topic', '=', 'coupon.issue-requested')
        .execute()
      const mine = events
        .map((e) => ({
          topic: e.topic,
          key: e.key,
          event: parseEvent(
            typeof e.event === 'string' ? e.event : JSON.stringify(e.event),
            'coupon.issue-requested',
          ),
        }))
        .filter((e) => (e.event.data as { requestId: string }).requestId === id)
        .map((e) => ({
          topic: e.topic,
          key: e.key,
          data: { ...(e.event.data as object), requestedAt: 'time' },
        }))
      const all = {
        answer: {
          ...answer.ok,
          request: { ...answer.ok.request, requestedAt: typeof answer.ok.request.requestedAt },
        },
        row,
        events: mine,
      }
      return JSON.parse(JSON.stringify(all).replaceAll(id, '<request>').replaceAll(userId, '<user>'))
    }

    test('new requests are recorded together, in the items order, as one by one records them', async () => {
      const alone = user()
      const aloneAnswer = (await requestBatch([{ coupon: couponId, user: alone }])).answers[0]!
      const together = [1, 2, 3, 4, 5].map(() => user())
      const batch = await requestBatch(together.map((u) => ({ coupon: couponId, user: u })))
      assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 1, alone: 0 })
      const reference = await kept(aloneAnswer, alone)
      for (const [i, answer] of batch.answers.entries()) {
        assert.deepEqual(await kept(answer, together[i]!), reference, `item ${i} as a request alone`)
      }
      // The deciding handler reads the coupon's requests in their events' order: the items' order.
      const order = await sql<{ user_id: string }>`
        select user_id from coupon_requests where user_id = any(${together}::uuid[]) order by seq`.execute(
        database.db,
      )
      assert.deepEqual(
        order.rows.map((r) => r.user_id),
        together,
      )
      const events = await sql<{ user_id: string }>`
        select event -> 'data' ->> 'userId' as user_id from outbox
         where topic = 'coupon.issue-requested' and event -> 'data' ->> 'userId' = any(${together}::text[])
         order by seq`.execute(database.db)
      assert.deepEqual(
        events.rows.map((r) => r.user_id),
        together,
      )
    })

    test('items it cannot take go one by one in the same batch, with their own answers', async () => {
      const earlier = user()
      const first = await requestBatch([{ coupon: couponId, user: earlier }])
      const twice = user()
      const items = [
        { coupon: couponId, user: user() },
        { coupon: couponId, user: earlier }, // asked before: the first request again
        { coupon: couponId, user: twice },
        { coupon: uuidv7(), user: user() }, // no such coupon
        { coupon: couponId, user: twice }, // asked twice in one batch: one request
        { coupon: couponId, user: user() },
      ]
      const batch = await requestBatch(items)
      const outcome = batch.answers.map((a) => ('ok' in a ? a.ok.created : a.message))
      assert.deepEqual(outcome, [true, false, true, 'COUPON_NOT_FOUND', false, true])
      const requestId = (answer: Answer | undefined) =>
        answer && 'ok' in answer ? answer.ok.request.requestId : null
      assert.equal(requestId(batch.answers[1]), requestId(first.answers[0]))
      assert.equal(requestId(batch.answers[2]), requestId(batch.answers[4]))
      // Together: the first and the last new ones, and the one asked before (left: its row was there). Alone and
      // returned: the one asked before and the two of the user asking twice; the unknown coupon raised.
      assert.deepEqual({ together: batch.together, alone: batch.alone }, { together: 1, alone: 3 })
      const rows = await sql<{ n: number }>`
        select count(*)::int as n from coupon_requests where user_id = ${twice}`.execute(database.db)
      assert.equal(rows.rows[0]!.n, 1)
    })
  })
}

// The issuance handler decides a coupon's pending requests under a lock on the coupon's row, for as long as its
// transaction lasts. A fan's new request meanwhile only needs the row to exist (its foreign key's FOR KEY SHARE):
// it must be recorded at once, not wait for the decision to commit. PostgreSQL only: PGlite has one connection.
describe('a coupon decision in progress does not hold up new requests [postgres]', () => {
  test('a request for the same coupon is recorded while the deciding transaction is still open', async () => {
    const database = await createTestDatabase('postgres', 'coupon_decide_lock', 4)
    try {
      const coupon = await insertCoupon(database.db, {
        name: 'First come',
        discountType: 'fixed',
        discountValue: 500,
        totalQuantity: 5,
      })
      const [early, late] = [uuidv7(), uuidv7()]
      await database.db
        .insertInto('users')
        .values(
          [early, late].map((id) => ({ id, email: `${id}@seed.test`, name: 'fan', password_hash: 'x' })),
        )
        .execute()
      const ask = (db: Db, user: string) =>
        sql<{ r: { created: boolean } }>`select request_coupon(${coupon.id}, ${user}) as r`.execute(db)
      await ask(database.db, early)

      let recordedWhileDeciding: unknown
      await database.db.transaction().execute(async (tx) => {
        assert.equal(await decideCouponRequests(tx, coupon.id), 1)
        // Another connection, while the decision holds its locks: a second's wait for a lock fails the request.
        recordedWhileDeciding = await withoutWaitingForLocks(
          database.db,
          async (other) => (await ask(other, late)).rows[0]!.r.created,
        )
      })
      assert.equal(recordedWhileDeciding, true)
      const statuses = await database.db
        .selectFrom('coupon_requests')
        .select(['user_id', 'status'])
        .where('coupon_id', '=', coupon.id)
        .execute()
      assert.deepEqual(Object.fromEntries(statuses.map((r) => [r.user_id, r.status])), {
        [early]: 'issued',
        [late]: 'pending',
      })
    } finally {
      await database.close()
    }
  })
})
