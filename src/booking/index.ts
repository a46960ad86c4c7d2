import type { Module } from '../module.ts'
import { holdExpirationHandler } from './booking-handlers.ts'
import { bookingRoutes } from './booking-routes.ts'
import { sweeperTask } from './expire-holds.ts'
import { SeatBoard, seatBoardTask } from './seat-board.ts'

/** Seat holds: the race, cancellation, expiry at the deadline (and the sweep behind it). */
export interface BookingModule extends Module {
  /** This instance's board of taken seats, shared with the payment slice. */
  readonly board: SeatBoard
}

export function bookingModule(options: { answerFromMemory: boolean }): BookingModule {
  const board = new SeatBoard({ enabled: options.answerFromMemory })
  return {
    name: 'booking',
    board,
    async install({ http, db, database, guard, config, events, logger }) {
      await http.register(bookingRoutes, {
        db,
        database,
        guard,
        board,
        holdTtlSeconds: config.HOLD_TTL_SECONDS,
        maxSeatsPerAdmission: config.MAX_HOLDS_PER_USER,
      })
      // A hold fetched up to one busy spell late is still fetched long before it is due (5 min by default).
      events.runtime.register(
        holdExpirationHandler({
          fetchYieldsToFans: config.HOLD_TTL_SECONDS * 1000 >= 2 * config.YIELD_TO_FANS_MS,
        }),
      )
      return [
        seatBoardTask(database, board, logger, SEAT_POLL_MS),
        {
          ...sweeperTask(db, logger, config.SWEEP_INTERVAL_MS, config.EXPIRY_GRACE_SECONDS),
          roles: ['workers'],
        },
      ]
    },
  }
}

/** How often an instance reads the seats other instances changed. */
const SEAT_POLL_MS = 100
