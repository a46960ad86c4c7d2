/** An error that retrying cannot fix (a 4xx from a partner, a malformed event): it goes straight to the dead letters. */
export class NonRetryableError extends Error {
  readonly retryable = false
  override name = 'NonRetryableError'
}

/** True unless the error says it cannot succeed on a retry (`retryable: false`, as AppError and NonRetryableError do). */
export function isRetryable(error: unknown): boolean {
  return !(
    error &&
    typeof error === 'object' &&
    'retryable' in error &&
    (error as { retryable: unknown }).retryable === false
  )
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 2000)
  return String(error).slice(0, 2000)
}
