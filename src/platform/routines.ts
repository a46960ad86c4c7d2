import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import { xactLock } from './advisory-locks.ts'
import type { Db } from './db.ts'

/**
 * A server-side function of a hot path. Its CREATE OR REPLACE text lives in the slice whose rule it is (one round
 * trip per business operation, no transaction held open across JavaScript); `installRoutines` puts it in place at
 * start, after the versioned migrations, the way repeatable migrations work.
 */
export interface Routine {
  readonly name: string
  readonly sql: string
}

export function routine(name: string, text: string): Routine {
  return { name, sql: text }
}

/** SQL helpers every routine may use. */
export const baseRoutines: readonly Routine[] = [
  routine(
    'uuid_v7',
    `create or replace function uuid_v7() returns uuid language sql volatile as $$
      -- RFC 9562 version 7: 48 bits of Unix milliseconds, then random bits (PostgreSQL 15 has no uuidv7())
      select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
        from 1 for 6), 52, 1), 53, 1), 'hex')::uuid $$`,
  ),
  routine(
    'iso_time',
    // stable as to_char is, so that the planner inlines it instead of calling a SQL function per value
    `create or replace function iso_time(t timestamptz) returns text language sql stable as $$
      -- the same text as JavaScript's Date.toISOString()
      select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$`,
  ),
]

/**
 * Creates or replaces every routine whose text changed since it was last installed (a hash per name in the
 * `routines` table), under an advisory lock so instances starting together do not race.
 */
export async function installRoutines(db: Db, routines: readonly Routine[]): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await xactLock(tx, 'routines')
    const installed = new Map(
      (await tx.selectFrom('routines').select(['name', 'hash']).execute()).map((r) => [r.name, r.hash]),
    )
    for (const r of routines) {
      const hash = createHash('sha256').update(r.sql).digest('hex')
      if (installed.get(r.name) === hash) continue
      await sql.raw(r.sql).execute(tx)
      await tx
        .insertInto('routines')
        .values({ name: r.name, hash })
        .onConflict((oc) => oc.column('name').doUpdateSet({ hash, installed_at: sql`now()` }))
        .execute()
    }
  })
}
