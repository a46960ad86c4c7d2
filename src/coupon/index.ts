import type { Module } from '../module.ts'
import { couponAdminRoutes } from './coupon-admin-routes.ts'
import { couponIssuanceHandler } from './coupon-handlers.ts'
import { couponRequestRoutes } from './coupon-request-routes.ts'
import { couponRoutes } from './coupon-routes.ts'

/** Coupons: organizer definitions and grants, first-come requests decided in arrival order, owned coupons. */
export const couponModule: Module = {
  name: 'coupon',
  async install({ http, admin, db, database, guard, events }) {
    await http.register(couponRoutes, { db, guard })
    await http.register(couponRequestRoutes, { db, database, guard })
    await admin(couponAdminRoutes, { db })
    events.runtime.register(couponIssuanceHandler())
    return []
  },
}
