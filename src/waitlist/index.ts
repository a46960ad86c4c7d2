import type { Module } from '../module.ts'
import { waitlistSweepTask } from './sweep-offers.ts'
import { waitlistAdminRoutes } from './waitlist-admin-routes.ts'
import { offerExpirationHandler, offerReleasedSeat, seatReleaseEvents } from './waitlist-handlers.ts'
import { waitlistRoutes, waitlistSchemas } from './waitlist-routes.ts'

/**
 * Waiting lists of sold-out schedules: a seat that comes back (a hold lapsed or given back, a refund) is offered to
 * the next fan, theirs alone until a deadline (WAITLIST_OFFER_MINUTES), then to the one after.
 */
export const waitlistModule: Module = {
  name: 'waitlist',
  async install({ http, admin, db, database, guard, tokens, events, config, logger }) {
    const offerSeconds = config.WAITLIST_OFFER_MINUTES * 60
    for (const schema of waitlistSchemas) http.addSchema(schema)
    await http.register(waitlistRoutes, { db, database, guard, tokens, offerSeconds })
    await admin(waitlistAdminRoutes, { db })
    for (const type of seatReleaseEvents) events.runtime.register(offerReleasedSeat(type, offerSeconds))
    events.runtime.register(offerExpirationHandler(offerSeconds))
    return [
      waitlistSweepTask(db, logger, {
        everyMs: config.SWEEP_INTERVAL_MS,
        graceSeconds: config.EXPIRY_GRACE_SECONDS,
        offerSeconds,
      }),
    ]
  },
}
