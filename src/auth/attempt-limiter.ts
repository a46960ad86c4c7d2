import { AppError } from '../platform/errors.ts'

/**
 * Counts attempts per key in fixed windows, in this instance's memory (each instance counts its own: with n
 * instances behind a balancer a client gets up to n times the limit, which still stops a flood). At most `maxKeys`
 * keys are remembered; past that the oldest windows are dropped first.
 */
export interface AttemptLimiter {
  /** Counts one attempt for `key`; RATE_LIMITED with Retry-After once `limit` attempts were made in this window. */
  take(key: string): void
}

export function createAttemptLimiter(options: {
  limit: number
  windowMs: number
  /** Names what is limited, in the error's details ("address", "account"). */
  scope: string
  maxKeys?: number
  now?: () => number
}): AttemptLimiter {
  const now = options.now ?? Date.now
  const maxKeys = options.maxKeys ?? 100_000
  const windows = new Map<string, { count: number; resetAt: number }>()
  return {
    take(key) {
      const at = now()
      let window = windows.get(key)
      if (!window || window.resetAt <= at) {
        if (window) windows.delete(key)
        // Map keeps insertion order, so the first keys are the oldest windows.
        for (const [oldKey, old] of windows) {
          if (windows.size < maxKeys && old.resetAt > at) break
          windows.delete(oldKey)
        }
        window = { count: 0, resetAt: at + options.windowMs }
        windows.set(key, window)
      }
      if (window.count >= options.limit) {
        const retryAfterSeconds = Math.max(1, Math.ceil((window.resetAt - at) / 1000))
        throw new AppError(
          'RATE_LIMITED',
          `Too many attempts for this ${options.scope}; try again in ${retryAfterSeconds} s.`,
          { scope: options.scope, retryAfterSeconds },
          { retryAfterSeconds },
        )
      }
      window.count++
    },
  }
}
