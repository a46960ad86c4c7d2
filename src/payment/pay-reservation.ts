import { sql } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import { findReservation } from '../booking/reservations-sql.ts'
import type { SeatMemory } from '../booking/seat-memory.ts'
import { redeemCoupon } from '../coupon/coupons-sql.ts'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db, Tx } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { type IdempotentResult, runIdempotent } from '../platform/idempotency.ts'
import { completeQueueEntry } from '../queue/queue-sql.ts'
import { debitPoints, readBalance } from '../wallet/wallet-sql.ts'
import { discountFor } from './pricing.ts'

export interface PaymentReceipt {
  paymentId: string
  reservationId: string
  scheduleId: string
  seatId: string
  seatLabel: string
  price: number
  discount: number
  amount: number
  couponId: string | null
  balance: number
  confirmedAt: string
}

/**
 * Pays a live hold once per Idempotency-Key (a replay answers the first receipt), then remembers the seat as sold
 * on this instance.
 */
export async function payReservation(
  deps: { db: Db; seats: SeatMemory },
  input: {
    reservationId: string
    userId: string
    scheduleId: string
    couponId: string | null
    idempotencyKey: string
  },
): Promise<IdempotentResult<PaymentReceipt>> {
  const result = await runIdempotent<PaymentReceipt>(
    deps.db,
    {
      userId: input.userId,
      scope: `payment:${input.reservationId}`,
      key: input.idempotencyKey,
      request: input.couponId ? { couponId: input.couponId } : {},
    },
    async (tx) => ({ status: 201, body: await payInTransaction(tx, input) }),
  )
  deps.seats.rememberSold(result.body.seatId)
  return result
}

/**
 * Pays a live hold in the caller's transaction: checks ownership and the deadline in SQL (against the clock, not
 * the transaction start), redeems the coupon, debits points, sells the seat, confirms the reservation, frees the
 * queue slot and records reservation.confirmed. Any failure rolls all of it back.
 */
async function payInTransaction(
  tx: Tx,
  input: { reservationId: string; userId: string; scheduleId: string; couponId: string | null },
): Promise<PaymentReceipt> {
  const r = await findReservation(tx, input.reservationId, { forUpdate: true })
  if (r.userId !== input.userId) throw new AppError('FORBIDDEN', 'This reservation belongs to someone else.')
  if (r.scheduleId !== input.scheduleId) {
    throw new AppError('QUEUE_NOT_ADMITTED', 'The queue token is for another schedule than this reservation.')
  }
  if (r.status === 'expired') throw new AppError('HOLD_EXPIRED')
  if (r.status !== 'held') throw new AppError('RESERVATION_NOT_PAYABLE')

  // The seat row is the arbiter against a concurrent takeover or release: it must still be ours and live.
  // Lock the seat first, then read the clock once: the deadline check and the recorded payment time are the same
  // instant, taken while no one else can touch the seat.
  await tx.selectFrom('seats').select('id').where('id', '=', r.seatId).forUpdate().execute()
  const soldRows = await sql<{ accepted_at: Date }>`
    update seats s set status = 'sold', held_until = null
    from (select clock_timestamp() as t) c
    where s.id = ${r.seatId} and s.reservation_id = ${r.id} and s.status = 'held' and s.held_until > c.t
    returning c.t as accepted_at`.execute(tx)
  const sold = soldRows.rows[0]
  if (!sold) throw new AppError('HOLD_EXPIRED')

  const coupon = input.couponId ? await redeemCoupon(tx, input.couponId, input.userId, r.id) : null
  const discount = discountFor(r.price, coupon)
  const amount = r.price - discount
  const paymentId = uuidv7()
  const debit = await debitPoints(tx, input.userId, amount, `payment:${paymentId}`)
  const confirmed = await tx
    .updateTable('reservations')
    // confirmed at the instant the deadline was checked, under the seat's row lock
    .set({ status: 'confirmed', confirmed_at: sold.accepted_at })
    .where('id', '=', r.id)
    .where('status', '=', 'held')
    .returning('confirmed_at')
    .executeTakeFirstOrThrow()
  await tx
    .insertInto('payments')
    .values({
      id: paymentId,
      reservation_id: r.id,
      user_id: input.userId,
      price: r.price,
      discount,
      amount,
      user_coupon_id: coupon?.userCouponId ?? null,
    })
    .execute()
  await completeQueueEntry(tx, r.scheduleId, input.userId)
  const schedule = await tx
    .selectFrom('schedules')
    .select('concert_id')
    .where('id', '=', r.scheduleId)
    .executeTakeFirstOrThrow()
  const confirmedAt = (confirmed.confirmed_at ?? new Date()).toISOString()
  await appendToOutbox(tx, [
    buildEvent('reservation.confirmed', r.id, {
      reservationId: r.id,
      paymentId,
      scheduleId: r.scheduleId,
      concertId: schedule.concert_id,
      seatId: r.seatId,
      seatLabel: r.seatLabel,
      userId: input.userId,
      price: r.price,
      discount,
      amount,
      couponId: input.couponId,
      confirmedAt,
    }),
  ])
  return {
    paymentId,
    reservationId: r.id,
    scheduleId: r.scheduleId,
    seatId: r.seatId,
    seatLabel: r.seatLabel,
    price: r.price,
    discount,
    amount,
    couponId: input.couponId,
    balance: debit?.balanceAfter ?? (await readBalance(tx, input.userId)),
    confirmedAt,
  }
}
