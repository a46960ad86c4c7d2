import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { sql } from 'kysely'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { pastCursor, SequenceCursor } from '../../src/platform/sequence-cursor.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'

// The seat board and the queue watch poll their tables through a SequenceCursor, several times a second on every
// instance, all the time. A poll must cost what it returns, not what the table holds: with the condition written as
// `rev > last or rev = any(gaps) order by rev limit`, a table without statistics (autovacuum off, or not yet come
// by after a sale's rows arrived) got a walk of the whole index from its first entry, 13,000 pages a poll after
// three sales of 100,000 seats. Checked by the pages PostgreSQL reads, so it fails on the plan, not on a clock.

const ROWS = 100_000

for (const kind of databaseKinds) {
  let database: DatabaseHandle

  before(async () => {
    database = await createTestDatabase(kind, 'cursor_plans', 2)
    await sql`create table numbered (n bigint primary key, note text not null)`.execute(database.db)
    await sql`insert into numbered select n, 'row ' || n from generate_series(1, ${ROWS}::int) as n`.execute(
      database.db,
    )
  })
  after(() => database?.close())

  test(`a poll reads the rows above the cursor in order and its gaps, up to its limit (${kind})`, async () => {
    const cursor = new SequenceCursor(ROWS - 10, 4)
    assert.deepEqual(cursor.gaps, [ROWS - 13, ROWS - 12, ROWS - 11, ROWS - 10])
    cursor.saw([ROWS - 12, ROWS - 10, ROWS - 5])
    // Above the last: ROWS-4 … ROWS; the gaps: ROWS-8 … ROWS-6 (those below fell a lookback below the last).
    assert.deepEqual(cursor.gaps, [ROWS - 8, ROWS - 7, ROWS - 6])
    const read = async (limit: number) =>
      (
        await sql<{
          n: number
          note: string
        }>`${pastCursor('numbered', ['n', 'note'], 'n', cursor, limit)}`.execute(database.db)
      ).rows.map((r) => Number(r.n))
    assert.deepEqual(await read(100), [
      ROWS - 8,
      ROWS - 7,
      ROWS - 6,
      ROWS - 4,
      ROWS - 3,
      ROWS - 2,
      ROWS - 1,
      ROWS,
    ])
    assert.deepEqual(
      await read(5),
      [ROWS - 8, ROWS - 7, ROWS - 6, ROWS - 4, ROWS - 3],
      'the lowest first, to the limit',
    )
    cursor.saw([ROWS - 8, ROWS - 7, ROWS - 6, ROWS - 4, ROWS - 3, ROWS - 2, ROWS - 1, ROWS])
    assert.deepEqual(await read(100), [], 'nothing new: nothing read')
  })

  if (kind === 'postgres')
    test('a poll near the end of a large table without statistics reads a few pages, not the table', async () => {
      const [stats] = (
        await sql<{ analyzed: boolean }>`
          select coalesce(last_analyze, last_autoanalyze) is not null as analyzed
            from pg_stat_user_tables where relname = 'numbered'`.execute(database.db)
      ).rows
      assert.equal(stats?.analyzed, false, 'the table was analyzed: the trap this test sets is gone')
      // Four gaps, as a running poll has a few (each is one descent of the index, two or three pages).
      const cursor = new SequenceCursor(ROWS - 200, 4)
      const plan = await sql<{
        'QUERY PLAN': [{ Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } }]
      }>`
        explain (analyze, buffers, format json) ${pastCursor('numbered', ['n', 'note'], 'n', cursor, 1_000)}`.execute(
        database.db,
      )
      const top = plan.rows[0]!['QUERY PLAN'][0].Plan
      const pages = top['Shared Hit Blocks'] + top['Shared Read Blocks']
      // The table is about 640 pages, its key's index about 275: a walk from the first entry reads them all.
      assert.ok(pages < 60, `a poll of 204 rows read ${pages} pages`)
    })
}
