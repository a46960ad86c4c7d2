import { cancelHoldRoutine } from './booking/cancel-hold.ts'
import { expireHoldsRoutine } from './booking/expire-holds.ts'
import { holdSeatBatchRoutine, holdSeatRoutine, holdSeatsTogetherRoutine } from './booking/hold-seat.ts'
import {
  requestCouponBatchRoutine,
  requestCouponRoutine,
  requestCouponsTogetherRoutine,
} from './coupon/request-coupon.ts'
import { outboxRoutines } from './events/outbox/append.ts'
import {
  couponDiscountRoutine,
  payReservationBatchRoutine,
  payReservationRoutine,
  payReservationsTogetherRoutine,
} from './payment/pay-reservation.ts'
import { refundReservationRoutine } from './payment/refund-reservation.ts'
import { type Db, migrate } from './platform/db.ts'
import { baseRoutines, installRoutines, type Routine } from './platform/routines.ts'
import { enterQueueBatchRoutine, enterQueueRoutine } from './queue/enter-queue.ts'
import { leaveQueueRoutine } from './queue/leave-queue.ts'
import { joinWaitlistRoutine } from './waitlist/join-waitlist.ts'
import { leaveWaitlistRoutine } from './waitlist/leave-waitlist.ts'
import { expireOfferRoutine, offerSeatRoutine } from './waitlist/offer-seat.ts'

/** Every server-side routine, helpers first; each slice keeps the text of its own. */
export const routines: readonly Routine[] = [
  ...baseRoutines,
  ...outboxRoutines,
  enterQueueRoutine,
  enterQueueBatchRoutine,
  leaveQueueRoutine,
  holdSeatRoutine,
  holdSeatsTogetherRoutine,
  holdSeatBatchRoutine,
  cancelHoldRoutine,
  expireHoldsRoutine,
  couponDiscountRoutine,
  requestCouponRoutine,
  requestCouponsTogetherRoutine,
  requestCouponBatchRoutine,
  payReservationRoutine,
  payReservationsTogetherRoutine,
  payReservationBatchRoutine,
  refundReservationRoutine,
  offerSeatRoutine,
  expireOfferRoutine,
  joinWaitlistRoutine,
  leaveWaitlistRoutine,
]

/** Brings a database to what this version of the service needs: versioned migrations, then the routines. */
export async function prepareDatabase(db: Db): Promise<void> {
  await migrate(db)
  await installRoutines(db, routines)
}
