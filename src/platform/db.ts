import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PGliteDialect, PostgresDialect, type Transaction } from 'kysely'
import { Migrator } from 'kysely/migration'
import pg from 'pg'
import { retryFor } from './backoff.ts'
import type { Config } from './config.ts'
import { StartupError } from './errors.ts'
import { migrationProvider } from './migrations/index.ts'
import type { Database } from './schema.ts'

/** Anything that runs queries: the pool, or a transaction flowing in from the caller. */
export type Db = Kysely<Database>
/** A transaction: what a function that must run inside the caller's transaction asks for. */
export type Tx = Transaction<Database>

/** A json or jsonb column's value: pg parses it, a raw query through PGlite may hand it over as text. */
export function jsonColumn<T>(value: T | string): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value
}

export interface DatabaseHandle {
  readonly db: Db
  readonly kind: 'postgres' | 'pglite'
  /** The PGlite instance in embedded mode (LISTEN/NOTIFY lives there). */
  readonly pglite: PGlite | undefined
  /** Connections to the PostgreSQL server: Kysely's, the relay's, the consumers', every query but the fans' routines. */
  readonly pool: pg.Pool | undefined
  /**
   * The fans' group-committed routines' own connections (holds, payments, queue entries, coupon requests; see
   * GroupCommit, one batch of each at a time): half of the instance's DB_POOL_SIZE. On the one pool, a fan's batch
   * waited in line behind the relay's and the consumers' transactions, which stay open while the event loop is busy
   * with the fans (4-22 ms a batch on average during a payments run, up to 155 ms). They are kept open while idle,
   * and warmed before the instance listens (warmRoutineConnections): a new session paid 5-8 ms to connect and its
   * first hold batch 18-25 ms against 6-7 warm, so with pg's default idle timeout of 10 s the first wave of a sale
   * that opened after a quiet spell paid both. Undefined with a pool of one, and on PGlite.
   */
  readonly routinePool?: pg.Pool | undefined
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

/** `poolSize` connections in all: half of them (rounded down) for the fans' routines (routinePool), the rest for the rest. */
export function openPostgres(url: string, poolSize: number): DatabaseHandle {
  const routineConnections = Math.floor(poolSize / 2)
  const pool = connections(url, poolSize - routineConnections)
  const routinePool =
    routineConnections > 0 ? connections(url, routineConnections, { keepIdle: true }) : undefined
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  return {
    db,
    kind: 'postgres',
    pglite: undefined,
    pool,
    routinePool,
    url,
    async close() {
      try {
        await db.destroy()
      } finally {
        await routinePool?.end()
      }
    },
  }
}

function connections(url: string, max: number, options: { keepIdle?: boolean } = {}): pg.Pool {
  // idleTimeoutMillis 0: pg never closes an idle connection (its default closes them after 10 s).
  const pool = new pg.Pool({
    connectionString: url,
    max,
    ...(options.keepIdle ? { idleTimeoutMillis: 0 } : {}),
  })
  pool.on('error', () => {
    // an idle client lost its server; the pool replaces it on next use
  })
  return pool
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
  const unlock = dataDir ? lockDataDir(dataDir) : () => {}
  let pglite: PGlite
  try {
    pglite = await PGlite.create({
      ...(dataDir ? { dataDir } : {}),
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
      parsers: { 20: (v: string) => Number(v), 1700: (v: string) => Number(v) },
    })
  } catch (error) {
    unlock()
    throw error
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) })
  return {
    db,
    kind: 'pglite',
    pglite,
    pool: undefined,
    async close() {
      try {
        await db.destroy()
      } finally {
        unlock()
      }
    },
  }
}

// Worth waiting for: the server is not up yet (a container starting beside this one) or is starting, or the
// network is not there yet. Anything else (a wrong password, a missing database) will not change by waiting.
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P03', // cannot_connect_now: the server is starting up or shutting down
  '53300', // too_many_connections
])

/**
 * Waits until the PostgreSQL server answers, for up to `waitSeconds`, saying each time what it waits for; fails at
 * once on what waiting cannot fix. PGlite is in process: there is nothing to wait for.
 */
export async function waitForDatabase(
  handle: DatabaseHandle,
  options: { waitSeconds: number; onWait?: (reason: string, attempt: number) => void },
): Promise<void> {
  if (handle.kind !== 'postgres') return
  const where = handle.url ? serverOf(handle.url) : 'the database server'
  await retryFor(
    options.waitSeconds,
    async () => (await handle.pool!.connect()).release(),
    (error, tries, timeLeft) => {
      const e = error as { code?: string; message?: string }
      const reason =
        e.code && e.message?.includes(e.code) ? e.message : `${e.code ?? ''} ${e.message ?? ''}`.trim()
      if (!TRANSIENT.has(e.code ?? '')) {
        throw new StartupError(`PostgreSQL at ${where} refused the service: ${reason}`)
      }
      if (!timeLeft) {
        throw new StartupError(
          `PostgreSQL at ${where} did not answer within ${options.waitSeconds} s (DB_WAIT_SECONDS): ${reason}`,
        )
      }
      options.onWait?.(`PostgreSQL at ${where} does not answer yet: ${reason}`, tries)
    },
  )
}

/** host:port/database of a PostgreSQL URL, without its user or password. */
function serverOf(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`
  } catch {
    return 'DATABASE_URL'
  }
}

/**
 * PGlite is PostgreSQL inside this process, with no postmaster to keep a second process off its files: two services
 * on one data folder would each run their own database on the same files, selling the same seats twice and
 * corrupting both. The folder is this process's while `pglite.lock` beside it names a live process; a lock left by
 * a process that is gone is taken over. Returns the release.
 */
function lockDataDir(dataDir: string): () => void {
  const folder = dirname(dataDir)
  const lockPath = join(folder, 'pglite.lock')
  try {
    mkdirSync(dataDir, { recursive: true })
  } catch (error) {
    throw new StartupError(
      `DATA_DIR ${folder}: cannot create ${dataDir} (${(error as Error).message}); set DATA_DIR to a folder this user may write`,
    )
  }
  for (;;) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: 'wx' })
      return () => {
        try {
          if (readFileSync(lockPath, 'utf8') === String(process.pid)) unlinkSync(lockPath)
        } catch {
          // already gone
        }
      }
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') {
        throw new StartupError(`DATA_DIR ${folder}: cannot write ${lockPath} (${(error as Error).message})`)
      }
    }
    const holder = lockHolder(lockPath)
    if (holder === undefined) continue // released meanwhile
    if (holder !== process.pid && processExists(holder)) {
      throw new StartupError(
        `DATA_DIR ${folder} is in use by process ${holder} (another npm start?): stop it, or give this one its own DATA_DIR`,
      )
    }
    // Its process is gone (or it is this process's own, from before a restart as the same pid, as in a container).
    try {
      unlinkSync(lockPath)
    } catch {
      // another starting process removed it first; the next try decides between us
    }
  }
}

/**
 * The pid in a lock file; undefined when the file is gone. A file still empty (its writer between creating and
 * writing it) is read again for up to a second before it counts as left by a process that died there (pid 0).
 */
function lockHolder(lockPath: string): number | undefined {
  for (let waited = 0; ; waited += 50) {
    let text: string
    try {
      text = readFileSync(lockPath, 'utf8').trim()
    } catch {
      return undefined
    }
    if (text !== '' || waited >= 1000) return /^[0-9]+$/.test(text) ? Number(text) : 0
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
  }
}

function processExists(pid: number): boolean {
  if (pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM'
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
