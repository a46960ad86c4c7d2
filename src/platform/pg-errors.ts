/** True when `error` is PostgreSQL's unique violation (23505), optionally on the named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string }
  if (e?.code !== '23505') return false
  return constraint === undefined || e.constraint === constraint || (e.message ?? '').includes(constraint)
}

/** True when `error` is a CHECK constraint violation (23514). */
export function isCheckViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === '23514'
}
