import { setTimeout as sleep } from 'node:timers/promises'

/** Polls `check` until it returns a truthy value; fails with `label` and the last state after `timeoutMs`. */
export async function waitFor<T>(
  label: string,
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; describe?: () => unknown } = {},
): Promise<Exclude<T, false | undefined | null | 0 | ''>> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value as Exclude<T, false | undefined | null | 0 | ''>
      last = value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) {
      const state = options.describe ? await options.describe() : last
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}; last state: ${inspect(state)}`)
    }
    await sleep(options.intervalMs ?? 100)
  }
}

function inspect(value: unknown): string {
  if (value instanceof Error) return value.stack ?? value.message
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))?.slice(0, 2000) ?? ''
  } catch {
    return String(value)
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!, i)
    }),
  )
  return out
}

/** Nearest-rank percentile (the values need not be sorted). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
