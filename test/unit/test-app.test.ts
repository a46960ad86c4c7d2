import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import pg from 'pg'
import { POSTGRES_ADMIN_URL } from '../support/postgres-admin.ts'
import { startTestApp } from '../support/test-app.ts'

/** The PostgreSQL databases whose name starts with `prefix`. */
async function databasesNamed(prefix: string): Promise<string[]> {
  const client = new pg.Client(POSTGRES_ADMIN_URL)
  await client.connect()
  try {
    const rows = await client.query<{ datname: string }>(
      'select datname from pg_database where starts_with(datname, $1)',
      [prefix],
    )
    return rows.rows.map((r) => r.datname)
  } finally {
    await client.end()
  }
}

test('a test app whose start fails leaves no database behind, and one that starts drops its own on close', async () => {
  const tag = `startfails${randomBytes(3).toString('hex')}`
  // The pool size must be at least 1: the start fails on the test's own configuration.
  await assert.rejects(startTestApp('postgres', tag, { DB_POOL_SIZE: 0 }), /DB_POOL_SIZE/)
  assert.deepEqual(await databasesNamed(`t_${tag}_`), [])

  const started = await startTestApp('postgres', tag)
  assert.equal((await databasesNamed(`t_${tag}_`)).length, 1)
  await started.close()
  assert.deepEqual(await databasesNamed(`t_${tag}_`), [])
})
