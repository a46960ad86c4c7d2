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
    // The random bits come from random(), which each session seeds once from the server's strong random source
    // (nothing here calls setseed). gen_random_uuid() made a system call for every id (OpenSSL's fork check, a
    // getpid): 3.4-3.7 µs an id on a machine with page-table isolation and no PCID, against 1.1 now; a payment and a
    // hold make two. The ids are keys, not secrets: no check rests on one being unguessable.
    `create or replace function uuid_v7() returns uuid language sql volatile as $$
      -- RFC 9562 version 7: 48 bits of Unix milliseconds, the version (7), 12 random bits, the variant (binary 10),
      -- 62 random bits (PostgreSQL 15 has no uuidv7())
      select (lpad(to_hex(floor(extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
        || '7' || lpad(to_hex(floor(random() * 4096)::int), 3, '0')
        || to_hex(8 + floor(random() * 4)::int) || lpad(to_hex(floor(random() * 4096)::int), 3, '0')
        || lpad(to_hex(floor(random() * 281474976710656)::bigint), 12, '0'))::uuid $$`,
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
