import { sql } from 'kysely'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { findReservation, releaseSeat } from './reservations-sql.ts'
import type { SeatMemory } from './seat-memory.ts'

/** Releases the caller's own live hold. */
export async function cancelHold(
  db: Db,
  seats: SeatMemory,
  reservationId: string,
  userId: string,
): Promise<void> {
  const { seatId } = await db.transaction().execute(async (tx) => {
    const r = await findReservation(tx, reservationId, { forUpdate: true })
    if (r.userId !== userId) throw new AppError('FORBIDDEN')
    if (r.status !== 'held')
      throw new AppError('RESERVATION_NOT_PAYABLE', 'Only a live hold can be cancelled.')
    await releaseSeat(tx, r.seatId, r.id, { tellInstances: true })
    await tx
      .updateTable('reservations')
      .set({ status: 'cancelled', ended_at: sql`now()` })
      .where('id', '=', r.id)
      .execute()
    await appendToOutbox(tx, [
      buildEvent('reservation.cancelled', r.id, {
        reservationId: r.id,
        scheduleId: r.scheduleId,
        seatId: r.seatId,
        userId,
        cancelledAt: new Date().toISOString(),
      }),
    ])
    return { seatId: r.seatId }
  })
  seats.forget(seatId)
}
