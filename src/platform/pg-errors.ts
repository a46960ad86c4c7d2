/** True when `error` is PostgreSQL's unique violation (23505), optionally on the named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string }
  if (e?.code !== '23505') return false
  return constraint === undefined || e.constraint === constraint || (e.message ?? '').includes(constraint)
}

/** True when a number does not fit its column (22003, numeric value out of range). */
export function isNumericOverflow(error: unknown): boolean {
  return (error as { code?: string })?.code === '22003'
}

/** True when the transaction lost a deadlock (40P01) or a serialization conflict (40001): run it again. */
export function isTransactionConflict(error: unknown): boolean {
  const code = (error as { code?: string })?.code
  return code === '40P01' || code === '40001'
}

/**
 * True when a row referenced a user that does not exist (23503 on a users foreign key): an access token outlived
 * its account, so the caller is not authenticated any more.
 */
export function isMissingUserReference(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string; detail?: string; message?: string }
  if (e?.code !== '23503') return false
  return (
    (e.detail ?? '').includes('is not present in table "users"') || /_user_id_fkey$/.test(e.constraint ?? '')
  )
}
