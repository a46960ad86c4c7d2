import { sql } from 'kysely'
import type { Db } from '../../src/platform/db.ts'

/**
 * Runs `work` in a transaction of its own and answers how many calls of each named routine returned in it, as
 * PostgreSQL counts them (`pg_stat_xact_user_functions`, with `track_functions` on for the transaction). A call that
 * raised, even when its caller caught it, is not counted. Counted before and after within the transaction: the view
 * also holds calls of this connection's earlier transactions that are not yet reported.
 */
export async function countRoutineCalls<T>(
  db: Db,
  names: readonly string[],
  work: (tx: Db) => Promise<T>,
): Promise<{ result: T; calls: Record<string, number> }> {
  return db.transaction().execute(async (tx) => {
    await sql`set local track_functions = 'pl'`.execute(tx)
    const read = async () => {
      const { rows } = await sql<{ funcname: string; calls: string }>`
        select funcname, calls::text from pg_stat_xact_user_functions where funcname = any(${names}::text[])`.execute(
        tx,
      )
      return (name: string) => Number(rows.find((r) => r.funcname === name)?.calls ?? 0)
    }
    const before = await read()
    const result = await work(tx)
    const after = await read()
    return { result, calls: Object.fromEntries(names.map((n) => [n, after(n) - before(n)])) }
  })
}
