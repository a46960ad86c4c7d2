import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { AppError } from '../../src/platform/errors.ts'
import { fanLoad } from '../../src/platform/fan-load.ts'
import {
  batchRoutineSql,
  GroupCommit,
  observeGroupCommits,
  setBasedRoutine,
} from '../../src/platform/prepared.ts'
import { createTestDatabase, type DatabaseKind } from '../support/databases.ts'

// A probe routine: writes a row and answers the transaction it ran in; 'fail' raises a catalog code (its row is
// undone), 'conflict' raises a serialization failure the first time only (a sequence is not rolled back).
const probe = `create or replace function gc_probe(p_key text, p_mode text) returns jsonb language plpgsql as $$
  begin
    insert into gc_rows (key) values (p_key);
    if p_mode = 'fail' then raise exception 'SEAT_NOT_FOUND' using detail = 'no seat ' || p_key; end if;
    if p_mode = 'conflict' and nextval('gc_conflicts') = 1 then
      raise exception 'conflict' using errcode = '40001';
    end if;
    return jsonb_build_object('key', p_key, 'tx', txid_current()::text);
  end $$`

const pairTogether = setBasedRoutine(
  'gc_pair_together',
  'p_keys text[], p_modes text[]',
  '',
  `with done as (
       insert into gc_rows (key) select k from unnest(p_keys, p_modes) as t(k, m) where m = 'ok')
     select array_agg(jsonb_build_object('i', n, 'answer', jsonb_build_object('key', k, 'tx', txid_current()::text)))
       into v_results from unnest(p_keys, p_modes) with ordinality as t(k, m, n) where m = 'ok';`,
)

async function prepare(kind: DatabaseKind): Promise<DatabaseHandle> {
  const database = await createTestDatabase(kind, 'group_commit', 8)
  await sql`create table gc_rows (key text primary key)`.execute(database.db)
  await sql`create sequence gc_conflicts`.execute(database.db)
  await sql.raw(probe).execute(database.db)
  await sql.raw(batchRoutineSql('gc_probe', ['text', 'text'])).execute(database.db)
  // The same probe with a pass together that takes the batch's 'ok' items in one statement and leaves the rest.
  await sql
    .raw(`create or replace function gc_pair(p_key text, p_mode text) returns jsonb language sql as $$
      select gc_probe(p_key, p_mode) $$`)
    .execute(database.db)
  await sql.raw(pairTogether.sql).execute(database.db)
  await sql.raw(batchRoutineSql('gc_pair', ['text', 'text'], { setBased: pairTogether })).execute(database.db)
  return database
}

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`group commit (${kind})`, () => {
    let database: DatabaseHandle
    before(async () => {
      database = await prepare(kind)
    })
    after(() => database.close())

    test('400 concurrent calls: each gets its own answer, failures undo only themselves', async () => {
      const commit = new GroupCommit<{ key: string; tx: string }>(database, {
        name: 'gc_probe',
        parameterTypes: ['text', 'text'],
      })
      const observed: number[] = []
      observeGroupCommits(database, (routine, calls) => {
        assert.equal(routine, 'gc_probe')
        observed.push(calls)
      })
      const keys = Array.from({ length: 400 }, (_, i) => `k${i}`)
      const settled = await Promise.allSettled(
        keys.map((key, i) => commit.call([key, i % 7 === 3 ? 'fail' : 'ok'])),
      )
      const transactions = new Set<string>()
      settled.forEach((s, i) => {
        if (i % 7 === 3) {
          assert.equal(s.status, 'rejected')
          const reason = (s as PromiseRejectedResult).reason
          assert.ok(reason instanceof AppError, String(reason))
          assert.equal(reason.code, 'SEAT_NOT_FOUND')
          assert.equal(reason.message, `no seat k${i}`)
        } else {
          assert.equal(s.status, 'fulfilled', String((s as PromiseRejectedResult).reason))
          const value = (s as PromiseFulfilledResult<{ key: string; tx: string }>).value
          assert.equal(value.key, `k${i}`)
          transactions.add(value.tx)
        }
      })
      const rows = await sql<{ key: string }>`select key from gc_rows where key like 'k%'`.execute(
        database.db,
      )
      assert.deepEqual(
        new Set(rows.rows.map((r) => r.key)),
        new Set(keys.filter((_, i) => i % 7 !== 3)),
        'exactly the successful calls left their row',
      )
      const succeeded = keys.length - keys.filter((_, i) => i % 7 === 3).length
      if (kind === 'postgres') {
        // Every call was counted once, in transactions of up to 60: the probe has no pass together, so each item
        // runs alone in a subtransaction, and a batch runs at most 60 items that way (the rest go next, in a
        // transaction of their own).
        assert.equal(
          observed.reduce((a, b) => a + b, 0),
          keys.length,
        )
        assert.ok(Math.max(...observed) > 1 && Math.max(...observed) <= 60, String(observed))
        // Calls made while the routine's batch was out shared transactions.
        assert.ok(
          transactions.size < succeeded / 2,
          `${transactions.size} transactions for ${succeeded} calls`,
        )
      } else {
        assert.equal(transactions.size, succeeded, 'PGlite runs every call alone')
      }
    })

    test('a batch pass takes its items together, the rest go one by one, and the metric says how many', async () => {
      const commit = new GroupCommit<{ key: string; tx: string }>(database, {
        name: 'gc_pair',
        parameterTypes: ['text', 'text'],
        concurrency: 1,
      })
      const observed: [number, number][] = []
      observeGroupCommits(database, (_, calls, together) => observed.push([calls, together]))
      // Submitted in one tick, the 21 calls go as one batch; every fifth fails.
      const settled = await Promise.allSettled(
        Array.from({ length: 21 }, (_, i) => commit.call([`p${i}`, i % 5 === 3 ? 'fail' : 'ok'])),
      )
      const outcome = settled.map((s) =>
        s.status === 'fulfilled' ? s.value.key : (s.reason as AppError).code,
      )
      assert.deepEqual(
        outcome,
        settled.map((_, i) => (i % 5 === 3 ? 'SEAT_NOT_FOUND' : `p${i}`)),
      )
      if (kind === 'postgres') {
        // 17 of the 21 are 'ok': the pass did them, in one statement; the 4 failing ones went one by one.
        assert.deepEqual(observed, [[21, 17]])
      }
      const rows = await sql<{
        n: number
      }>`select count(*)::int as n from gc_rows where key like 'p%'`.execute(database.db)
      assert.equal(rows.rows[0]!.n, 17, 'a row for each call that succeeded')
    })

    test('a batch runs at most 60 items alone: the rest run next, in order, in a transaction of their own', async () => {
      const commit = new GroupCommit<{ key: string; tx: string }>(database, {
        name: 'gc_probe',
        parameterTypes: ['text', 'text'],
      })
      const observed: number[] = []
      observeGroupCommits(database, (_, calls) => observed.push(calls))
      // Made in one tick, the first 128 go as one batch (the most a batch takes), the last one after it. The probe
      // has no pass together: each item runs alone, in a subtransaction of its own. Item 100 fails.
      const settled = await Promise.allSettled(
        Array.from({ length: 129 }, (_, i) => commit.call([`a${i}`, i === 100 ? 'fail' : 'ok'])),
      )
      const outcome = settled.map((s) =>
        s.status === 'fulfilled' ? s.value.key : (s.reason as AppError).code,
      )
      assert.deepEqual(
        outcome,
        settled.map((_, i) => (i === 100 ? 'SEAT_NOT_FOUND' : `a${i}`)),
      )
      const txOf = settled.map((s) => (s.status === 'fulfilled' ? s.value.tx : undefined))
      if (kind === 'postgres') {
        assert.deepEqual(observed, [60, 60, 8, 1])
        // Calls 0-59, 60-119 and 120-127 each shared one transaction, in their order.
        for (const [from, to] of [
          [0, 59],
          [60, 119],
          [120, 127],
        ] as const) {
          const txs = new Set(txOf.slice(from, to + 1).filter((tx) => tx !== undefined))
          assert.equal(txs.size, 1, `calls ${from}-${to} in ${txs.size} transactions`)
        }
        assert.equal(new Set(txOf.filter((tx) => tx !== undefined)).size, 4)
      }
      const rows = await sql<{
        n: number
      }>`select count(*)::int as n from gc_rows where key like 'a%'`.execute(database.db)
      assert.equal(rows.rows[0]!.n, 128, 'a row for each call that succeeded')
    })

    test('a call that lost a serialization conflict in a batch is run again alone and succeeds', async () => {
      const commit = new GroupCommit<{ key: string; tx: string }>(database, {
        name: 'gc_probe',
        parameterTypes: ['text', 'text'],
        concurrency: 1,
      })
      // One slot: the first call goes alone, the next 20 wait and go together, the conflicting one among them.
      const calls = Array.from({ length: 21 }, (_, i) => commit.call([`c${i}`, i === 10 ? 'conflict' : 'ok']))
      const values = await Promise.all(calls)
      assert.deepEqual(
        values.map((v) => v.key),
        calls.map((_, i) => `c${i}`),
      )
      if (kind === 'postgres') {
        const batchTx = values[5]!.tx
        assert.equal(values[15]!.tx, batchTx, 'the other waiting calls shared one transaction')
        assert.notEqual(values[10]!.tx, batchTx, 'the conflicting call committed in its own')
      }
      const rows = await sql<{
        n: number
      }>`select count(*)::int as n from gc_rows where key like 'c%'`.execute(database.db)
      assert.equal(rows.rows[0]!.n, 21)
    })

    test('the fans in flight are counted from each call until its answer, failures too (on PGlite each runs alone, uncounted)', async () => {
      const load = fanLoad(database)
      const commit = new GroupCommit<{ key: string; tx: string }>(database, {
        name: 'gc_probe',
        parameterTypes: ['text', 'text'],
      })
      const before = load.inFlight
      const calls = Array.from({ length: 60 }, (_, i) =>
        commit.call([`f${i}`, i % 5 === 0 ? 'fail' : 'ok']).then(
          () => load.inFlight,
          () => load.inFlight,
        ),
      )
      const counted = kind === 'postgres' ? 60 : 0
      assert.equal(load.inFlight, before + counted)
      assert.equal(load.busy, kind === 'postgres', 'busy from FANS_BUSY_AT in flight')
      // The calls leave the count as their answers come (the first batch is one call alone, the rest one batch).
      const seenByAnswers = await Promise.all(calls)
      assert.equal(seenByAnswers[0], before + (counted > 0 ? 59 : 0))
      assert.equal(load.inFlight, before)
    })
  })
}
