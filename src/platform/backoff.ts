import { setTimeout as sleep } from 'node:timers/promises'

/** Exponential backoff: `base * 2^attempt`, capped; attempt 0 waits `base`. */
export function backoffMs(attempt: number, base: number, cap: number): number {
  return Math.min(cap, base * 2 ** Math.min(Math.max(0, attempt), 30))
}

/**
 * Calls `attempt` until it resolves, for up to `waitSeconds`, with backoff between tries (250 ms doubling to 2 s).
 * After each failure `failed` is told whether time is left, and throws to give up (always when none is).
 */
export async function retryFor<T>(
  waitSeconds: number,
  attempt: () => Promise<T>,
  failed: (error: unknown, tries: number, timeLeft: boolean) => void,
): Promise<T> {
  const deadline = Date.now() + waitSeconds * 1000
  for (let tries = 1; ; tries++) {
    try {
      return await attempt()
    } catch (error) {
      const left = deadline - Date.now()
      failed(error, tries, left > 0)
      if (left <= 0) throw error
      await sleep(Math.min(backoffMs(tries - 1, 250, 2_000), left))
    }
  }
}
