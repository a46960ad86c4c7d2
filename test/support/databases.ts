import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterEach } from 'node:test'
import { fileURLToPath } from 'node:url'
import { prepareDatabase, routines } from '../../src/database.ts'
import { type DatabaseHandle, openPglite, openPostgres } from '../../src/platform/db.ts'
import { adminQuery, POSTGRES_ADMIN_URL } from './postgres-admin.ts'

export { adminQuery, POSTGRES_ADMIN_URL }

export type DatabaseKind = 'pglite' | 'postgres'

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
    const snapshot = await preparedPgliteSnapshot()
    return openPglite(undefined, { loadDataDir: new Blob([snapshot]) })
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

/**
 * A dump of a PGlite database prepared for this version of the schema (migrations and routines), made once and
 * cached on disk by the hash of their sources, so each test's PGlite starts from it in about a second instead of
 * running initdb and every migration (TEST_PGLITE_SNAPSHOT=off always prepares afresh).
 */
async function preparedPgliteSnapshot(): Promise<Uint8Array> {
  cachedSnapshot ??= (async () => {
    const hash = createHash('sha256')
    const root = fileURLToPath(new URL('../../', import.meta.url))
    const pgliteVersion = JSON.parse(
      readFileSync(join(root, 'node_modules/@electric-sql/pglite/package.json'), 'utf8'),
    ).version
    hash.update(pgliteVersion)
    const migrationsDir = join(root, 'src/platform/migrations')
    for (const file of readdirSync(migrationsDir).sort()) hash.update(readFileSync(join(migrationsDir, file)))
    for (const r of routines) hash.update(r.sql)
    const path = join(
      root,
      'node_modules/.cache/flash-sale-tests',
      `pglite-prepared-${hash.digest('hex').slice(0, 16)}.tar`,
    )
    if (process.env.TEST_PGLITE_SNAPSHOT !== 'off' && existsSync(path))
      return new Uint8Array(readFileSync(path))
    const fresh = await openPglite(undefined)
    await prepareDatabase(fresh.db)
    const dump = new Uint8Array(await (await fresh.pglite!.dumpDataDir('none')).arrayBuffer())
    await fresh.close()
    mkdirSync(dirname(path), { recursive: true })
    const partial = `${path}.${process.pid}`
    writeFileSync(partial, dump)
    renameSync(partial, path)
    return dump
  })()
  return cachedSnapshot
}

let cachedSnapshot: Promise<Uint8Array> | undefined
