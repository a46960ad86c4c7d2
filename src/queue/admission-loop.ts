import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { admitTick, type QueueSettings } from './queue-repository.ts'

export interface AdmissionLoop {
  start(): void
  /** Stops scheduling and waits for a round in progress. */
  stop(): Promise<void>
  /** One round now (tests and operators); resolves when it committed. */
  tick(): ReturnType<typeof admitTick>
}

/** Runs admission rounds every `intervalMs`; whichever instance holds the advisory lock does the work. */
export function createAdmissionLoop(
  db: Db,
  settings: QueueSettings,
  intervalMs: number,
  logger: Logger,
): AdmissionLoop {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> = Promise.resolve()
  let stopped = true
  const tick = () => admitTick(db, settings)
  const loop = () => {
    if (stopped) return
    running = tick()
      .then((r) => {
        if (r.admitted.length > 0) logger.debug({ admitted: r.admitted.length }, 'queue admission round')
      })
      .catch((error: unknown) => logger.error({ err: error }, 'queue admission round failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, intervalMs)
      })
  }
  return {
    start() {
      if (!stopped) return
      stopped = false
      timer = setTimeout(loop, intervalMs)
    },
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
    },
    tick,
  }
}
