import type { Module } from '../module.ts'
import { rankingHandler } from './ranking-handlers.ts'
import { rankingRoutes } from './ranking-routes.ts'

/** Sales rankings: filled from reservation.confirmed by the ranking group, read by anyone. */
export const rankingModule: Module = {
  name: 'ranking',
  async install({ http, db, events }) {
    await http.register(rankingRoutes, { db })
    events.runtime.register(rankingHandler())
    return []
  },
}
