import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { AppError } from '../../src/platform/errors.ts'
import { batchRoutineSql, GroupCommit, observeGroupCommits } from '../../src/platform/prepared.ts'
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

async function prepare(kind: DatabaseKind): Promise<DatabaseHandle> {
  const database = await createTestDatabase(kind, 'group_commit', 8)
  await sql`create table gc_rows (key text primary key)`.execute(database.db)
  await sql`create sequence gc_conflicts`.execute(database.db)
  await sql.raw(probe).execute(database.db)
  await sql.raw(batchRoutineSql('gc_probe', ['text', 'text'])).execute(database.db)
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
        // Every call was counted once, in transactions of up to 32 calls.
        assert.equal(
          observed.reduce((a, b) => a + b, 0),
          keys.length,
        )
        assert.ok(Math.max(...observed) > 1 && Math.max(...observed) <= 32, String(observed))
        // Calls made while the pool's batch slots were busy shared transactions.
        assert.ok(
          transactions.size < succeeded / 2,
          `${transactions.size} transactions for ${succeeded} calls`,
        )
      } else {
        assert.equal(transactions.size, succeeded, 'PGlite runs every call alone')
      }
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
  })
}
