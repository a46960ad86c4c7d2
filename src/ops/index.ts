import type { Module } from '../module.ts'
import { deadLetterRoutes } from './dead-letter-routes.ts'
import { lagGauges } from './deployment-lag.ts'
import { healthRoutes } from './health-routes.ts'
import { opsRoutes } from './ops-routes.ts'
import { OpsSeries, opsSeriesTask } from './ops-series.ts'

/** Operations: health, readiness, metrics, the dashboard, the pipeline summary and the dead letters. */
export const opsModule: Module = {
  name: 'ops',
  async install({ http, admin, db, metrics, events, config, logger }) {
    const series = new OpsSeries(config.OPS_SAMPLE_MS)
    lagGauges(events, metrics.registry)
    await http.register(healthRoutes, { db, metrics, metricsToken: config.METRICS_TOKEN })
    await admin(opsRoutes, { db, events, series })
    await admin(deadLetterRoutes, { db })
    return [opsSeriesTask({ db, events, metrics, logger }, series)]
  },
}
