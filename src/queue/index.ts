import type { Module } from '../module.ts'
import type { Config } from '../platform/config.ts'
import { type AdmissionLoop, createAdmissionLoop } from './admission-loop.ts'
import { queueAdminRoutes } from './queue-admin-routes.ts'
import { queueRoutes } from './queue-routes.ts'
import type { QueueSettings } from './queue-sql.ts'

export { prepareQueue } from './queue-sql.ts'

/** The waiting room: fans enter and read their place; admission rounds let them in by capacity and rate. */
export interface QueueModule extends Module {
  /** Set once installed: tests and operators can run a round at once. */
  readonly admission: AdmissionLoop
}

export function queueSettingsFrom(config: Config): QueueSettings {
  return {
    maxActive: config.QUEUE_MAX_ACTIVE,
    ratePerSecond: config.QUEUE_ADMIT_PER_SECOND,
    admittedTtlSeconds: config.QUEUE_TOKEN_TTL_SECONDS,
  }
}

export function queueModule(): QueueModule {
  let admission: AdmissionLoop | undefined
  return {
    name: 'queue',
    get admission() {
      if (!admission) throw new Error('the queue module is not installed yet')
      return admission
    },
    async install({ http, admin, db, guard, tokens, config, logger }) {
      const settings = queueSettingsFrom(config)
      await http.register(queueRoutes, { db, guard, tokens, settings })
      await admin(queueAdminRoutes, { db, settings })
      const loop = createAdmissionLoop(db, settings, config.QUEUE_TICK_MS, logger)
      admission = loop
      return [
        { name: 'queue-admission', roles: ['workers'], start: () => loop.start(), stop: () => loop.stop() },
      ]
    },
  }
}
