import { randomBytes } from 'node:crypto'
import { afterEach } from 'node:test'
import pg from 'pg'
import { prepareDatabase } from '../../src/database.ts'
import { type DatabaseHandle, openPglite, openPostgres } from '../../src/platform/db.ts'

export type DatabaseKind = 'pglite' | 'postgres'

/** The real PostgreSQL server of these machines; TEST_PG_URL overrides (a server URL whose database we may create). */
export const POSTGRES_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Both kinds, unless TEST_DATABASES narrows it (for example `TEST_DATABASES=pglite` on a laptop without Postgres). */
export const databaseKinds: DatabaseKind[] = (process.env.TEST_DATABASES ?? 'pglite,postgres')
  .split(',')
  .map((k) => k.trim() as DatabaseKind)

/**
 * Tests of this file that failed so far. With TEST_KEEP_FAILED=1 a PostgreSQL database is kept (and named on stderr)
 * instead of dropped when a test failed while it was open, so its rows can be inspected.
 */
let failures = 0
afterEach((t) => {
  // `passed` is set on a finished test (Node 21.7+); the installed types do not name it yet.
  if ((t as { passed?: boolean }).passed === false) failures++
})

/** A fresh, migrated database: its own PostgreSQL database (dropped on close) or an in-memory PGlite. */
export async function createTestDatabase(
  kind: DatabaseKind,
  name: string,
  poolSize = 20,
): Promise<DatabaseHandle & { url?: string }> {
  if (kind === 'pglite') {
    const handle = await openPglite(undefined)
    await prepareDatabase(handle.db)
    return handle
  }
  const dbName = `t_${name
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 40)}_${randomBytes(4).toString('hex')}`
  await adminQuery(`create database ${dbName}`)
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${dbName}`
  const handle = openPostgres(url.toString(), poolSize)
  await prepareDatabase(handle.db)
  const failuresBefore = failures
  return {
    ...handle,
    url: url.toString(),
    async close() {
      await handle.close()
      if (process.env.TEST_KEEP_FAILED === '1' && failures > failuresBefore) {
        process.stderr.write(`TEST_KEEP_FAILED: kept database ${url.toString()}\n`)
        return
      }
      await adminQuery(`drop database if exists ${dbName} with (force)`)
    },
  }
}

/** Runs one statement as the server's admin user (create and drop databases). */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
