import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PGliteDialect, PostgresDialect, type Transaction } from 'kysely'
import { Migrator } from 'kysely/migration'
import pg from 'pg'
import type { Config } from './config.ts'
import { migrationProvider } from './migrations/index.ts'
import type { Database } from './schema.ts'

/** Anything that runs queries: the pool, or a transaction flowing in from the caller. */
export type Db = Kysely<Database>
/** A transaction: what a function that must run inside the caller's transaction asks for. */
export type Tx = Transaction<Database>

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

/** The service's database: the PostgreSQL server at DATABASE_URL, or PGlite persisted in DATA_DIR. */
export async function openDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR' | 'DB_POOL_SIZE'>,
  poolSize = config.DB_POOL_SIZE,
): Promise<DatabaseHandle> {
  return config.DATABASE_URL
    ? openPostgres(config.DATABASE_URL, poolSize)
    : openPglite(join(config.DATA_DIR, 'pglite'))
}

export function openPostgres(url: string, poolSize: number): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: url, max: poolSize })
  pool.on('error', () => {
    // an idle client lost its server; the pool replaces it on next use
  })
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  return { db, kind: 'postgres', pglite: undefined, pool, url, close: () => db.destroy() }
}

/**
 * PGlite in process; `dataDir` undefined keeps it in memory (`loadDataDir`: starting from a dump of another one).
 * PGlite is one connection: Kysely's PGlite adapter says so (`supportsMultipleConnections: false`) and Kysely hands
 * it out to one caller at a time.
 */
export async function openPglite(
  dataDir: string | undefined,
  options: { loadDataDir?: Blob } = {},
): Promise<DatabaseHandle> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    parsers: { 20: (v: string) => Number(v), 1700: (v: string) => Number(v) },
  })
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) })
  return { db, kind: 'pglite', pglite, pool: undefined, close: () => db.destroy() }
}

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider })
  const { error, results } = await migrator.migrateToLatest()
  if (error) {
    const failed = results?.find((r: { status: string }) => r.status === 'Error')?.migrationName
    throw new Error(`Migration ${failed ?? ''} failed: ${(error as Error).message}`, { cause: error })
  }
}
