import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { runAdmissionRound } from './admit-fans.ts'
import type { QueueSettings } from './queue-sql.ts'

export interface AdmissionLoop {
  start(): void
  /** Stops scheduling and waits for a round in progress. */
  stop(): Promise<void>
  /** One round now (tests and operators); resolves when it committed. */
  tick(): ReturnType<typeof runAdmissionRound>
}

/** Runs admission rounds every `intervalMs`; whichever instance holds the advisory lock does the work. */
export function createAdmissionLoop(
  db: Db,
  settings: QueueSettings,
  intervalMs: number,
  logger: Logger,
): AdmissionLoop {
  const tick = () => runAdmissionRound(db, settings)
  const loop = createBackgroundLoop({
    name: 'queue-admission',
    logger,
    idleMs: intervalMs,
    delayFirstRound: true,
    async run() {
      const round = await tick()
      if (round.admitted.length > 0)
        logger.debug({ admitted: round.admitted.length }, 'queue admission round')
      return false
    },
  })
  return { start: () => loop.start(), stop: () => loop.stop(), tick }
}
