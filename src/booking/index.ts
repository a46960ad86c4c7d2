import type { Module } from '../module.ts'
import { holdExpirationHandler } from './booking-handlers.ts'
import { bookingRoutes } from './booking-routes.ts'
import { sweeperTask } from './expire-holds.ts'
import { forgetReleasedSeats, SeatMemory } from './seat-memory.ts'

/** Seat holds: the race, cancellation, expiry at the deadline (and the sweep behind it). */
export interface BookingModule extends Module {
  /** This instance's memory of taken seats, shared with the payment slice. */
  readonly seats: SeatMemory
}

export function bookingModule(seatCacheTtlMs: number): BookingModule {
  const seats = new SeatMemory(seatCacheTtlMs)
  return {
    name: 'booking',
    seats,
    async install({ http, db, guard, config, events, database, logger }) {
      await http.register(bookingRoutes, {
        db,
        guard,
        holdTtlSeconds: config.HOLD_TTL_SECONDS,
        maxHoldsPerUser: config.MAX_HOLDS_PER_USER,
        seats,
      })
      events.runtime.register(holdExpirationHandler())
      let unlisten: (() => Promise<void>) | undefined
      return [
        {
          name: 'seat-release-listener',
          async start() {
            unlisten = await forgetReleasedSeats(database, seats)
          },
          stop: async () => unlisten?.(),
        },
        {
          ...sweeperTask(db, logger, config.SWEEP_INTERVAL_MS, config.EXPIRY_GRACE_SECONDS),
          roles: ['workers'],
        },
      ]
    },
  }
}
