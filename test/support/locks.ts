import { sql } from 'kysely'
import type pg from 'pg'
import type { Db } from '../../src/platform/db.ts'

/**
 * Runs `work` on a connection of its own that waits at most a second for a row lock held elsewhere: what `work`
 * returned, or, when such a lock outlasted the second (lock_not_available), what it waited for. For tests that a
 * transaction held open on another connection does not hold up `work`.
 */
export function withoutWaitingForLocks<T>(db: Db, work: (connection: Db) => Promise<T>): Promise<T | string> {
  return db.connection().execute(async (connection) => {
    await sql`set lock_timeout = '1s'`.execute(connection)
    try {
      return await work(connection)
    } catch (error) {
      if ((error as { code?: unknown }).code !== '55P03') throw error
      return `waited for a lock: ${(error as Error).message}`
    } finally {
      await sql`reset lock_timeout`.execute(connection)
    }
  })
}

/** A transaction held open on a connection of its own after `statement` ran in it; end it with commit or rollback. */
export async function openTransaction(
  pool: pg.Pool,
  statement: string,
  params: unknown[],
): Promise<{ commit(): Promise<void>; rollback(): Promise<void> }> {
  const client = await pool.connect()
  await client.query('begin')
  try {
    await client.query(statement, params)
  } catch (error) {
    await client.query('rollback')
    client.release()
    throw error
  }
  const end = (how: 'commit' | 'rollback') => async () => {
    try {
      await client.query(how)
    } finally {
      client.release()
    }
  }
  return { commit: end('commit'), rollback: end('rollback') }
}
