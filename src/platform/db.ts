import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import {
  type DatabaseConnection,
  type Driver,
  Kysely,
  PGliteDialect,
  PostgresDialect,
  type Transaction,
} from 'kysely'
import { Migrator } from 'kysely/migration'
import pg from 'pg'
import { migrationProvider } from './migrations/index.ts'
import type { Database } from './schema.ts'

export type Db = Kysely<Database>
export type Tx = Transaction<Database>
/** Anything that runs queries: the pool or a transaction flowing in from the caller. */
export type Queryable = Kysely<Database>

export interface DatabaseHandle {
  readonly db: Db
  readonly kind: 'postgres' | 'pglite'
  /** The PGlite instance in embedded mode (LISTEN/NOTIFY lives there). */
  readonly pglite: PGlite | undefined
  readonly pool: pg.Pool | undefined
  /** The server URL (PostgreSQL mode), for sessions that must not be pooled such as LISTEN. */
  readonly url?: string | undefined
  close(): Promise<void>
}

// int8 (counts, sequences) as JS numbers: every value we store fits in 2^53.
pg.types.setTypeParser(20, (v) => Number(v))
pg.types.setTypeParser(1700, (v) => Number(v))

export function openPostgres(url: string, poolSize: number): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: url, max: poolSize })
  pool.on('error', () => {
    // an idle client lost its server; the pool replaces it on next use
  })
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  return { db, kind: 'postgres', pglite: undefined, pool, url, close: () => db.destroy() }
}

/** PGlite in process; `dataDir` undefined keeps it in memory. */
export async function openPglite(dataDir: string | undefined): Promise<DatabaseHandle> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: { 20: (v: string) => Number(v), 1700: (v: string) => Number(v) },
  })
  const dialect = new PGliteDialect({ pglite })
  // PGlite is one connection: Kysely's driver shares it between callers, so hand it out exclusively,
  // otherwise a query could run inside someone else's open transaction.
  const exclusive = new (class extends PGliteDialect {
    override createDriver(): Driver {
      return exclusiveDriver(dialect.createDriver())
    }
  })({ pglite })
  const db = new Kysely<Database>({ dialect: exclusive })
  return { db, kind: 'pglite', pglite, pool: undefined, close: () => db.destroy() }
}

function exclusiveDriver(inner: Driver): Driver {
  let tail: Promise<void> = Promise.resolve()
  const releases = new WeakMap<DatabaseConnection, () => void>()
  return {
    init: () => inner.init(),
    async acquireConnection() {
      let release!: () => void
      const previous = tail
      tail = new Promise<void>((resolve) => {
        release = resolve
      })
      await previous
      const connection = await inner.acquireConnection()
      releases.set(connection, release)
      return connection
    },
    async releaseConnection(connection) {
      await inner.releaseConnection(connection)
      const release = releases.get(connection)
      releases.delete(connection)
      release?.()
    },
    beginTransaction: (c, s) => inner.beginTransaction(c, s),
    commitTransaction: (c) => inner.commitTransaction(c),
    rollbackTransaction: (c) => inner.rollbackTransaction(c),
    ...(inner.savepoint ? { savepoint: inner.savepoint.bind(inner) } : {}),
    ...(inner.rollbackToSavepoint ? { rollbackToSavepoint: inner.rollbackToSavepoint.bind(inner) } : {}),
    ...(inner.releaseSavepoint ? { releaseSavepoint: inner.releaseSavepoint.bind(inner) } : {}),
    destroy: () => inner.destroy(),
  }
}

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider })
  const { error, results } = await migrator.migrateToLatest()
  if (error) {
    const failed = results?.find((r: { status: string }) => r.status === 'Error')?.migrationName
    throw new Error(`Migration ${failed ?? ''} failed: ${(error as Error).message}`, { cause: error })
  }
}
