import type { Module } from '../module.ts'
import type { Config } from '../platform/config.ts'
import { type AdmissionLoop, createAdmissionLoop } from './admission-loop.ts'
import { queueAdminRoutes } from './queue-admin-routes.ts'
import { queueRoutes } from './queue-routes.ts'
import type { QueueSettings } from './queue-sql.ts'
import { QueueWatch, queueWatchTask } from './queue-watch.ts'

export { prepareQueue } from './queue-sql.ts'

/** The waiting room: fans enter and read their place; admission rounds let them in by capacity and rate. */
export interface QueueModule extends Module {
  /** Set once installed: tests and operators can run a round at once. */
  readonly admission: AdmissionLoop
  /** This instance's watermarks and revocations (the guard refuses revoked queue tokens from it). */
  readonly watch: QueueWatch
}

export function queueSettingsFrom(config: Config): QueueSettings {
  return {
    maxActive: config.QUEUE_MAX_ACTIVE,
    ratePerSecond: config.QUEUE_ADMIT_PER_SECOND,
    admittedTtlSeconds: config.QUEUE_TOKEN_TTL_SECONDS,
  }
}

export function queueModule(
  tokenTtlSeconds: number,
  options: { manualAdmission?: boolean } = {},
): QueueModule {
  let admission: AdmissionLoop | undefined
  const watch = new QueueWatch(tokenTtlSeconds * 1000)
  return {
    name: 'queue',
    watch,
    get admission() {
      if (!admission) throw new Error('the queue module is not installed yet')
      return admission
    },
    async install({ http, admin, db, database, guard, tokens, config, logger }) {
      const settings = queueSettingsFrom(config)
      await http.register(queueRoutes, { db, database, guard, tokens, settings, watch })
      await admin(queueAdminRoutes, { db, database, settings, watch })
      const loop = createAdmissionLoop(db, settings, config.QUEUE_TICK_MS, logger, watch)
      admission = loop
      return [
        queueWatchTask(db, watch, logger, { pollMs: LIVE_POLL_MS, tokenTtlSeconds }),
        // Every instance takes part: a round is one database transaction, owned by whoever holds its advisory lock,
        // and the rate is credited from the time of the last round in the database, so more instances admit no
        // faster; an instance that dies costs at most one round. It never waits for consumer groups to join.
        ...(options.manualAdmission
          ? []
          : [{ name: 'queue-admission', start: () => loop.start(), stop: () => loop.stop() }]),
      ]
    },
  }
}

/** How often an instance reads what other instances changed in the lines. */
const LIVE_POLL_MS = 100
