import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'

/** A table past one of autovacuum's thresholds, and what it needs. */
export interface TableDue {
  readonly table: string
  /** Dead tuples or inserts since the last vacuum past their thresholds, or transaction ids past the freeze maximum. */
  readonly vacuum: boolean
  /** Rows changed since the last analyze past the threshold. */
  readonly analyze: boolean
  readonly deadTuples: number
}

/** A table's counts as the statistics have them, and its transaction ids' ages. */
export interface TableCounts {
  readonly table: string
  /** pg_class.reltuples: -1 until the table is first vacuumed or analyzed. */
  readonly rows: number
  readonly deadTuples: number
  readonly insertedSinceVacuum: number
  readonly changedSinceAnalyze: number
  /** age(relfrozenxid), mxid_age(relminmxid). */
  readonly xidAge: number
  readonly multixactAge: number
}

/** The server's autovacuum settings that decide when a table is due. */
export interface AutovacuumSettings {
  readonly vacuumThreshold: number
  readonly vacuumScaleFactor: number
  /** -1: inserts never make a table due. */
  readonly insertThreshold: number
  readonly insertScaleFactor: number
  readonly analyzeThreshold: number
  readonly analyzeScaleFactor: number
  readonly freezeMaxAge: number
  readonly multixactFreezeMaxAge: number
}

/**
 * What autovacuum would do to a table now, by its rules: a vacuum when its dead tuples or its inserts since the last
 * vacuum pass threshold + scale factor × rows, or when its oldest unfrozen transaction id (or multixact) is older than
 * the freeze maximum (a table nobody changes still needs that one, or the database stops taking writes near 2^31
 * transactions); an analyze when its changes since the last pass theirs. A never-analyzed table counts as empty, as
 * autovacuum counts it. Undefined when it needs nothing.
 */
export function dueOf(t: TableCounts, s: AutovacuumSettings): TableDue | undefined {
  const rows = Math.max(t.rows, 0)
  const vacuum =
    t.deadTuples > s.vacuumThreshold + s.vacuumScaleFactor * rows ||
    (s.insertThreshold >= 0 && t.insertedSinceVacuum > s.insertThreshold + s.insertScaleFactor * rows) ||
    t.xidAge > s.freezeMaxAge ||
    t.multixactAge > s.multixactFreezeMaxAge
  const analyze = t.changedSinceAnalyze > s.analyzeThreshold + s.analyzeScaleFactor * rows
  return vacuum || analyze ? { table: t.table, vacuum, analyze, deadTuples: t.deadTuples } : undefined
}

/** The service's tables that autovacuum would take now, by the server's own settings, the most dead tuples first. */
export async function tablesDue(db: Db): Promise<TableDue[]> {
  const { rows } = await sql<TableCounts & AutovacuumSettings>`
    select t.relname as "table", c.reltuples::float8 as rows, t.n_dead_tup::float8 as "deadTuples",
           t.n_ins_since_vacuum::float8 as "insertedSinceVacuum", t.n_mod_since_analyze::float8 as "changedSinceAnalyze",
           age(c.relfrozenxid)::float8 as "xidAge", mxid_age(c.relminmxid)::float8 as "multixactAge",
           current_setting('autovacuum_vacuum_threshold')::float8 as "vacuumThreshold",
           current_setting('autovacuum_vacuum_scale_factor')::float8 as "vacuumScaleFactor",
           current_setting('autovacuum_vacuum_insert_threshold')::float8 as "insertThreshold",
           current_setting('autovacuum_vacuum_insert_scale_factor')::float8 as "insertScaleFactor",
           current_setting('autovacuum_analyze_threshold')::float8 as "analyzeThreshold",
           current_setting('autovacuum_analyze_scale_factor')::float8 as "analyzeScaleFactor",
           current_setting('autovacuum_freeze_max_age')::float8 as "freezeMaxAge",
           current_setting('autovacuum_multixact_freeze_max_age')::float8 as "multixactFreezeMaxAge"
    from pg_stat_user_tables t
    join pg_class c on c.oid = t.relid
    where t.schemaname = current_schema()
    order by t.n_dead_tup desc, t.relname`.execute(db)
  return rows.flatMap((r) => dueOf(r, r) ?? [])
}

/**
 * Vacuums (and analyzes, when due) or only analyzes one table. `skip_locked`: a table another session is vacuuming
 * (another instance, autovacuum, an operator) is left for the next round instead of waited for.
 */
export async function vacuumTable(db: Db, due: TableDue): Promise<void> {
  const table = sql.table(due.table)
  if (due.vacuum) {
    await (due.analyze
      ? sql`vacuum (skip_locked, analyze) ${table}`
      : sql`vacuum (skip_locked) ${table}`
    ).execute(db)
  } else {
    await sql`analyze (skip_locked) ${table}`.execute(db)
  }
}

/**
 * Whether this instance vacuums its tables: `on` and `off` as said; `auto` only where nothing else ever would, PGlite
 * (PostgreSQL in one process: no autovacuum launcher, whatever its `autovacuum` setting says). A PostgreSQL server's
 * own autovacuum does it there; `warn` when that is off, since the outbox then grows by every event ever published.
 */
export function vacuumPlan(
  mode: 'auto' | 'on' | 'off',
  kind: 'postgres' | 'pglite',
  serverAutovacuum: boolean,
): 'vacuum' | 'warn' | 'none' {
  if (mode === 'on') return 'vacuum'
  if (mode === 'off') return 'none'
  if (kind === 'pglite') return 'vacuum'
  return serverAutovacuum ? 'none' : 'warn'
}

/** A WAL segment: PGlite checkpoints once this much has been written since its last checkpoint. */
export const CHECKPOINT_AFTER_WAL_BYTES = 16 * 1024 * 1024

/**
 * PGlite has no checkpointer either: its WAL grows by everything written for as long as the process runs (401 MB
 * in `pg_wal` after 800,000 rows inserted and deleted, none of it ever recycled). A checkpoint once a segment's worth
 * has been written since the last lets it recycle the segments behind it. Returns the position checkpointed at, or
 * `since` when not yet due. Not on a PostgreSQL server, whose checkpointer does it.
 */
export async function checkpointWhenDue(db: Db, since: string | undefined): Promise<string> {
  const { rows } = await sql<{ lsn: string; written: number | null }>`
    select pg_current_wal_lsn()::text as lsn,
           pg_wal_lsn_diff(pg_current_wal_lsn(), ${since ?? null}::pg_lsn)::float8 as written`.execute(db)
  const { lsn, written } = rows[0]!
  if (since !== undefined && written !== null && written < CHECKPOINT_AFTER_WAL_BYTES) return since
  await sql`checkpoint`.execute(db)
  return lsn
}

/** Whether the PostgreSQL server runs autovacuum: the launcher needs both settings on. */
export async function serverAutovacuums(db: Db): Promise<boolean> {
  const result = await sql<{ on: boolean }>`
    select current_setting('autovacuum') = 'on' and current_setting('track_counts') = 'on' as "on"`.execute(
    db,
  )
  return result.rows[0]?.on === true
}
