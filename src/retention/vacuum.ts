import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'

/** A table past one of autovacuum's thresholds, and what it needs. */
export interface TableDue {
  readonly table: string
  /** Dead tuples (or inserts since the last vacuum) past the threshold: `vacuum`; else only `analyze`. */
  readonly vacuum: boolean
  /** Rows changed since the last analyze past the threshold. */
  readonly analyze: boolean
  readonly deadTuples: number
}

/**
 * The service's tables that autovacuum would take now, by the server's own autovacuum settings (threshold + scale
 * factor × rows, for dead tuples, for inserts since the last vacuum and for changes since the last analyze), the
 * most dead tuples first. A never-analyzed table counts as empty, as autovacuum counts it.
 */
export async function tablesDue(db: Db): Promise<TableDue[]> {
  const rows = await sql<{ table: string; vacuum: boolean; analyze: boolean; dead: number }>`
    with s as (
      select current_setting('autovacuum_vacuum_threshold')::float8 as vt,
             current_setting('autovacuum_vacuum_scale_factor')::float8 as vs,
             current_setting('autovacuum_vacuum_insert_threshold')::float8 as it,
             current_setting('autovacuum_vacuum_insert_scale_factor')::float8 as is_,
             current_setting('autovacuum_analyze_threshold')::float8 as at,
             current_setting('autovacuum_analyze_scale_factor')::float8 as as_)
    select t.relname as "table", t.n_dead_tup::float8 as dead,
           (t.n_dead_tup > s.vt + s.vs * greatest(c.reltuples, 0)
             or (s.it >= 0 and t.n_ins_since_vacuum > s.it + s.is_ * greatest(c.reltuples, 0))) as vacuum,
           t.n_mod_since_analyze > s.at + s.as_ * greatest(c.reltuples, 0) as analyze
    from pg_stat_user_tables t
    join pg_class c on c.oid = t.relid
    cross join s
    where t.schemaname = current_schema()
    order by t.n_dead_tup desc, t.relname`.execute(db)
  return rows.rows
    .filter((r) => r.vacuum || r.analyze)
    .map((r) => ({ table: r.table, vacuum: r.vacuum, analyze: r.analyze, deadTuples: r.dead }))
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
