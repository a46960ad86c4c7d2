import { setTimeout as sleep } from 'node:timers/promises'
import { backoffMs } from './backoff.ts'
import type { Logger } from './logger.ts'
import { createWaker } from './waker.ts'

export interface BackgroundLoopOptions {
  /** Shown in logs. */
  name: string
  logger: Logger
  /**
   * One round of work. Returns true when there may be more to do at once (run again without waiting), false to
   * wait `idleMs` (or until `wake()`).
   */
  run(signal: AbortSignal): Promise<boolean>
  idleMs: number
  /** Backoff after a failed round: `base * 2^failures`, capped. */
  backoff?: { baseMs: number; capMs: number }
  /** Waits `idleMs` before the first round instead of running at once. */
  delayFirstRound?: boolean
}

/** A background worker: runs rounds until stopped, waits when idle, backs off on failure, wakes early on demand. */
export interface BackgroundLoop {
  readonly name: string
  start(): void
  /** Cuts the current idle wait short; a wake-up that comes while a round runs is not lost. */
  wake(): void
  /** Stops scheduling, aborts waits, and resolves once the round in progress has finished. */
  stop(): Promise<void>
  readonly running: boolean
}

/** The one loop every background worker uses (relay, admission, sweep, local consumers), as pg-boss has one Worker. */
export function createBackgroundLoop(options: BackgroundLoopOptions): BackgroundLoop {
  const backoff = options.backoff ?? { baseMs: 100, capMs: 5_000 }
  const waker = createWaker()
  let abort: AbortController | undefined
  let done: Promise<void> = Promise.resolve()

  async function loop(signal: AbortSignal): Promise<void> {
    let failures = 0
    if (options.delayFirstRound) await waker.wait(options.idleMs)
    while (!signal.aborted) {
      let more = false
      try {
        more = await options.run(signal)
        failures = 0
      } catch (error) {
        if (signal.aborted) break
        failures++
        options.logger.warn({ err: error, loop: options.name, failures }, 'background round failed; retrying')
        await sleep(backoffMs(failures - 1, backoff.baseMs, backoff.capMs), undefined, { signal }).catch(
          () => {},
        )
        continue
      }
      if (more || signal.aborted) continue
      await waker.wait(options.idleMs)
    }
  }

  return {
    name: options.name,
    get running() {
      return abort !== undefined
    },
    start() {
      if (abort) return
      abort = new AbortController()
      done = loop(abort.signal)
    },
    wake: () => waker.notify(),
    async stop() {
      if (!abort) return
      abort.abort()
      abort = undefined
      waker.notify()
      await done
    },
  }
}
