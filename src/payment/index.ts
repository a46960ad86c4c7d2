import type { SeatBoard } from '../booking/seat-board.ts'
import type { Module } from '../module.ts'
import type { QueueWatch } from '../queue/queue-watch.ts'
import { paymentRoutes } from './payment-routes.ts'
import { RefundReceiptSchema, refundAdminRoutes, refundRoutes } from './refund-routes.ts'

/** Paying a hold with points (and perhaps a coupon), and refunding a paid reservation. */
export function paymentModule(options: { board: SeatBoard; watch: QueueWatch }): Module {
  return {
    name: 'payment',
    async install({ http, admin, database, guard, config }) {
      http.addSchema(RefundReceiptSchema)
      await http.register(paymentRoutes, { database, guard, ...options })
      await http.register(refundRoutes, {
        database,
        guard,
        board: options.board,
        cutoffHours: config.REFUND_CUTOFF_HOURS,
      })
      await admin(refundAdminRoutes, { database, board: options.board })
      return []
    },
  }
}
