/** The longest delay a Node timer takes; a longer one would fire at once. Longer waits go in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1

interface Wait {
  timer: NodeJS.Timeout | undefined
  reject(reason: unknown): void
}

/** The waits in progress on each signal, all behind the one abort listener that signal has for them. */
const waitsBySignal = new WeakMap<AbortSignal, Set<Wait>>()

/**
 * Resolves at `at` (ms since the epoch, never before it by `Date.now()`), or rejects with the signal's reason when
 * it aborts first. Waits on the same signal share one abort listener. `timers/promises`' sleep adds a listener per
 * wait, and an AbortSignal looks through all its listeners for a duplicate on every add: a partition's holds, each
 * waiting on the partition's signal for its expiry, made that quadratic (on this project's machines 10,000 waits took
 * 0.7 s of CPU to start, 40,000 took 30 s).
 */
export function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  if (at <= Date.now()) return Promise.resolve()
  const waits = waitsOn(signal)
  return new Promise<void>((resolve, reject) => {
    const wait: Wait = { timer: undefined, reject }
    // Timers can fire a millisecond early against Date.now(): wait again until the time has really come.
    const check = () => {
      const left = at - Date.now()
      if (left > 0) {
        wait.timer = setTimeout(check, Math.min(left, MAX_TIMER_MS))
        return
      }
      waits.delete(wait)
      resolve()
    }
    waits.add(wait)
    check()
  })
}

/**
 * Resolves when `promise` does, or rejects with the signal's reason when it aborts first; behind the same one abort
 * listener per signal as sleepUntil's waits (many records wait on one partition's signal).
 */
export function untilOrAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  const waits = waitsOn(signal)
  return new Promise<void>((resolve, reject) => {
    const wait: Wait = { timer: undefined, reject }
    waits.add(wait)
    promise.then(
      () => {
        waits.delete(wait)
        resolve()
      },
      (error: unknown) => {
        waits.delete(wait)
        reject(error)
      },
    )
  })
}

function waitsOn(signal: AbortSignal): Set<Wait> {
  const known = waitsBySignal.get(signal)
  if (known) return known
  const waits = new Set<Wait>()
  waitsBySignal.set(signal, waits)
  signal.addEventListener(
    'abort',
    () => {
      for (const wait of waits) {
        clearTimeout(wait.timer)
        wait.reject(signal.reason)
      }
      waits.clear()
    },
    { once: true },
  )
  return waits
}
