import type { Module } from '../module.ts'
import { deadLetterRoutes } from './dead-letter-routes.ts'
import { healthRoutes } from './health-routes.ts'
import { opsRoutes } from './ops-routes.ts'

/** Operations: health, readiness, metrics, the dashboard, the pipeline summary and the dead letters. */
export const opsModule: Module = {
  name: 'ops',
  async install({ http, admin, db, metrics, events, config }) {
    await http.register(healthRoutes, { db, metrics, metricsToken: config.METRICS_TOKEN })
    await admin(opsRoutes, { db, events })
    await admin(deadLetterRoutes, { db })
    return []
  },
}
