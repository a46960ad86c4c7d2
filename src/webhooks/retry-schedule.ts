/** How long to wait before the next attempt at a webhook delivery; pure, so the schedule is unit-tested. */
export interface RetrySettings {
  baseMs: number
  maxDelayMs: number
}

/**
 * Exponential backoff with jitter: `base * 2^(failures-1)`, capped at `maxDelayMs`, then spread over ±20 % so
 * endpoints that failed together do not all come back at the same instant. A `Retry-After` from the endpoint (429,
 * 503) is honoured when it asks for longer, within the cap.
 */
export function nextDelayMs(
  failures: number,
  settings: RetrySettings,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(
    settings.maxDelayMs,
    settings.baseMs * 2 ** Math.min(Math.max(0, failures - 1), 40),
  )
  const jittered = Math.round(exponential * (0.8 + 0.4 * random()))
  const wanted = retryAfterMs !== undefined ? Math.max(jittered, retryAfterMs) : jittered
  return Math.min(settings.maxDelayMs, Math.max(0, wanted))
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
