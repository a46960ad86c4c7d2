import type { Module } from '../module.ts'
import { rankingHandler, rankingRefundHandler } from './ranking-handlers.ts'
import { rankingRoutes } from './ranking-routes.ts'

/** Sales rankings: filled from reservation.confirmed by the ranking group (less refunds), read by anyone. */
export const rankingModule: Module = {
  name: 'ranking',
  async install({ http, db, events }) {
    await http.register(rankingRoutes, { db })
    events.runtime.register(rankingHandler())
    events.runtime.register(rankingRefundHandler())
    return []
  },
}
