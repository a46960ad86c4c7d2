import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { runAdmissionRound } from './admit-fans.ts'
import type { QueueSettings } from './queue-sql.ts'
import type { QueueWatch } from './queue-watch.ts'

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
  watch?: QueueWatch,
): AdmissionLoop {
  const tick = async () => {
    const round = await runAdmissionRound(db, settings)
    // This instance's fans see the line move at once; the others read it from the database shortly.
    for (const [scheduleId, through] of round.admittedThrough)
      watch?.advance(scheduleId, { opened: true, admittedThrough: through })
    return round
  }
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
