import type { SeatBoard } from '../booking/seat-board.ts'
import type { Module } from '../module.ts'
import type { QueueWatch } from '../queue/queue-watch.ts'
import { paymentRoutes } from './payment-routes.ts'

/** Paying a hold with points (and perhaps a coupon). */
export function paymentModule(options: { board: SeatBoard; watch: QueueWatch }): Module {
  return {
    name: 'payment',
    async install({ http, database, guard }) {
      await http.register(paymentRoutes, { database, guard, ...options })
      return []
    },
  }
}
