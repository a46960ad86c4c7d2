/** Exponential backoff: `base * 2^attempt`, capped; attempt 0 waits `base`. */
export function backoffMs(attempt: number, base: number, cap: number): number {
  return Math.min(cap, base * 2 ** Math.min(Math.max(0, attempt), 30))
}
