import { sql } from 'kysely'
import type { Db } from './db.ts'

/**
 * Every PostgreSQL advisory lock the service takes, by name, so no two owners can pick the same number by accident.
 * Transaction-scoped: the lock ends with the transaction (or the connection, when its process dies).
 */
export const Lock = {
  /** One instance runs a queue admission round at a time. */
  admission: 727_001,
  /** One relay publishes at a time, which keeps per-key order across instances. */
  relay: 727_002,
  /** One reconciliation sweep of lapsed holds at a time. */
  sweep: 727_003,
  /** Coalesces outbox NOTIFYs; taken inside the `notify_outbox` trigger (migration 0004), kept here for the record. */
  outboxNotify: 727_004,
  /** One retention round at a time. */
  retention: 727_005,
  /** One instance installs the routines at start; the others wait, then find them in place. */
  routines: 727_006,
  /** One reconciliation sweep of waiting-list offers at a time. */
  waitlistSweep: 727_010,
} as const

export type LockName = keyof typeof Lock

/** Takes the named lock for the rest of the caller's transaction; false when another transaction holds it. */
export async function tryXactLock(tx: Db, name: LockName): Promise<boolean> {
  const result = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${Lock[name]}) as ok`.execute(tx)
  return result.rows[0]?.ok === true
}

/** Waits for the named lock, then holds it for the rest of the caller's transaction. */
export async function xactLock(tx: Db, name: LockName): Promise<void> {
  await sql`select pg_advisory_xact_lock(${Lock[name]})`.execute(tx)
}
