import { createHash } from 'node:crypto'
import type { Db, Tx } from './db.ts'
import { AppError } from './errors.ts'

export interface IdempotentResult<T> {
  readonly status: number
  readonly body: T
  readonly replayed: boolean
}

/** JSON with object keys sorted, so equal requests hash equal whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/**
 * The SHA-256 of a request's canonical JSON, stored with its Idempotency-Key to tell a replay from a reuse of the key.
 * An empty body (a payment without a coupon: the crowd's case) is hashed once, not on every request (about 2 µs).
 */
export function requestHash(request: unknown): string {
  const canonical = canonicalJson(request)
  return canonical === '{}' ? EMPTY_BODY_HASH : createHash('sha256').update(canonical).digest('hex')
}
const EMPTY_BODY_HASH = createHash('sha256').update('{}').digest('hex')

/**
 * Runs `work` once per (user, scope, key): the key is claimed in the same transaction as the work, so a
 * concurrent duplicate waits for the first to commit and then replays its stored answer. A failed attempt
 * rolls back its claim, so the client may retry with the same key.
 */
export async function runIdempotent<T>(
  db: Db,
  claim: { userId: string; scope: string; key: string; request: unknown },
  work: (tx: Tx) => Promise<{ status: number; body: T }>,
): Promise<IdempotentResult<T>> {
  const hash = requestHash(claim.request)
  return db.transaction().execute(async (tx) => {
    const claimed = await tx
      .insertInto('idempotency_keys')
      .values({ user_id: claim.userId, scope: claim.scope, key: claim.key, request_hash: hash })
      .onConflict((oc) => oc.doNothing())
      .returning('key')
      .executeTakeFirst()
    if (!claimed) {
      const stored = await tx
        .selectFrom('idempotency_keys')
        .select(['request_hash', 'status_code', 'response'])
        .where('user_id', '=', claim.userId)
        .where('scope', '=', claim.scope)
        .where('key', '=', claim.key)
        .executeTakeFirstOrThrow()
      if (stored.request_hash !== hash) throw new AppError('IDEMPOTENCY_KEY_REUSED')
      return { status: stored.status_code ?? 200, body: stored.response as T, replayed: true }
    }
    const result = await work(tx)
    await tx
      .updateTable('idempotency_keys')
      .set({ status_code: result.status, response: JSON.stringify(result.body) })
      .where('user_id', '=', claim.userId)
      .where('scope', '=', claim.scope)
      .where('key', '=', claim.key)
      .execute()
    return { ...result, replayed: false }
  })
}
