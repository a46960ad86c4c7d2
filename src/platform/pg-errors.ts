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
