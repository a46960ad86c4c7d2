import type { SeatMemory } from '../booking/seat-memory.ts'
import type { Module } from '../module.ts'
import { paymentRoutes } from './payment-routes.ts'

/** Paying a hold with points (and perhaps a coupon). */
export function paymentModule(seats: SeatMemory): Module {
  return {
    name: 'payment',
    async install({ http, db, guard }) {
      await http.register(paymentRoutes, { db, guard, seats })
      return []
    },
  }
}
