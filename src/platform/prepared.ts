import { setTimeout as sleep } from 'node:timers/promises'
import { CompiledQuery } from 'kysely'
import type { DatabaseHandle } from './db.ts'
import { AppError, type ErrorCode, errorCatalog } from './errors.ts'
import { isTransactionConflict } from './pg-errors.ts'

/** A statement of a hot path: parsed and planned once per connection (a named prepared statement), not per call. */
export interface Statement {
  readonly name: string
  readonly text: string
}

export function statement(name: string, text: string): Statement {
  return { name, text }
}

/**
 * Runs one statement in its own transaction and returns its rows. On PostgreSQL it is a named prepared statement on
 * a pooled connection; on PGlite it goes through Kysely, which hands PGlite's one connection to one caller at a time.
 * A routine that raises a catalog code (`RAISE EXCEPTION 'SEAT_NOT_FOUND'`) rejects with that AppError; a deadlock
 * or serialization failure is retried (the statement was rolled back whole), so a fan never sees one.
 */
export async function execute<R>(
  database: DatabaseHandle,
  s: Statement,
  values: readonly unknown[],
): Promise<R[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (database.pool) {
        const result = await database.pool.query({ name: s.name, text: s.text, values: values as unknown[] })
        return result.rows as R[]
      }
      const result = await database.db.executeQuery<R>(CompiledQuery.raw(s.text, [...values]))
      return result.rows as R[]
    } catch (error) {
      if (isTransactionConflict(error) && attempt < MAX_CONFLICT_RETRIES) {
        await sleep(Math.random() * 5 * (attempt + 1))
        continue
      }
      throw routineError(error) ?? error
    }
  }
}

const MAX_CONFLICT_RETRIES = 5

/** A PL/pgSQL `RAISE EXCEPTION '<CODE>'` (SQLSTATE P0001) whose message is a catalog code, as that AppError. */
export function routineError(error: unknown): AppError | undefined {
  const e = error as { code?: string; message?: string; detail?: string }
  if (e?.code !== 'P0001' || !e.message || !(e.message in errorCatalog)) return undefined
  return new AppError(e.message as ErrorCode, e.detail || undefined)
}
