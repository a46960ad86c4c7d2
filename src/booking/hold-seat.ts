import { sql } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import { liveSeatStatus } from '../catalog/catalog-sql.ts'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import type { Reservation } from './reservations-sql.ts'
import type { SeatMemory } from './seat-memory.ts'

/**
 * Holds a seat for `ttlSeconds`. The seat row decides the race (one conditional update: the seat is free, or its
 * hold has lapsed; a row locked by a concurrent attempt is skipped), so exactly one caller wins and the others get
 * SEAT_ALREADY_HELD without waiting on a lock.
 */
export async function holdSeat(
  db: Db,
  seats: SeatMemory,
  input: { scheduleId: string; seatId: string; userId: string; ttlSeconds: number; maxHolds: number },
): Promise<Reservation> {
  if (seats.isTaken(input.seatId)) throw new AppError('SEAT_ALREADY_HELD')
  // Optimistic read first: in a flash sale almost every attempt targets a taken seat, and a plain indexed read
  // answers those without a transaction or a wait on the winner's row lock. The update below still decides.
  const seat = await db
    .selectFrom('seats')
    .select([liveSeatStatus.as('status'), 'held_until'])
    .where('id', '=', input.seatId)
    .where('schedule_id', '=', input.scheduleId)
    .executeTakeFirst()
  if (!seat) throw new AppError('SEAT_NOT_FOUND')
  if (seat.status === 'sold') seats.rememberSold(input.seatId)
  if (seat.status === 'held') seats.rememberHeld(input.seatId, seat.held_until ?? undefined)
  if (seat.status !== 'available') throw new AppError('SEAT_ALREADY_HELD')
  const reservationId = uuidv7()
  const reservation = await db.transaction().execute(async (tx): Promise<Reservation> => {
    const taken = await sql<{
      seat_exists: boolean
      label: string | null
      price: number | null
      held_until: Date | null
    }>`
      with target as (
        -- a seat another attempt is taking right now is skipped, not waited for: that attempt wins or frees it
        select id from seats
        where id = ${input.seatId} and schedule_id = ${input.scheduleId}
          and (status = 'available' or (status = 'held' and held_until <= now()))
        for update skip locked),
      won as (
        update seats s set status = 'held', reservation_id = ${reservationId},
               held_until = now() + make_interval(secs => ${input.ttlSeconds})
        from target
        where s.id = target.id and (s.status = 'available' or (s.status = 'held' and s.held_until <= now()))
        returning s.label, s.price, s.held_until)
      select exists(select 1 from seats where id = ${input.seatId} and schedule_id = ${input.scheduleId}) as seat_exists,
             won.label, won.price, won.held_until
      from (select 1) one left join won on true`.execute(tx)
    const row = taken.rows[0]
    if (!row?.seat_exists) throw new AppError('SEAT_NOT_FOUND')
    if (row.label === null || row.price === null || row.held_until === null) {
      seats.rememberHeld(input.seatId, undefined)
      throw new AppError('SEAT_ALREADY_HELD')
    }

    // Same-user holds queue up on the wallet row so the cap cannot be raced past.
    await tx.selectFrom('wallets').select('user_id').where('user_id', '=', input.userId).forUpdate().execute()
    const { held } = await tx
      .selectFrom('reservations')
      .select(sql<number>`count(*)::int`.as('held'))
      .where('user_id', '=', input.userId)
      .where('status', '=', 'held')
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirstOrThrow()
    if (held >= input.maxHolds) throw new AppError('HOLD_LIMIT_REACHED')

    // A lapsed hold we just took over ends here, with its event, even if the expiry worker has not run yet.
    const lapsed = await tx
      .updateTable('reservations')
      .set({ status: 'expired', ended_at: sql`now()` })
      .where('seat_id', '=', input.seatId)
      .where('status', '=', 'held')
      .returning(['id', 'user_id', 'expires_at'])
      .execute()

    await tx
      .insertInto('reservations')
      .values({
        id: reservationId,
        schedule_id: input.scheduleId,
        seat_id: input.seatId,
        user_id: input.userId,
        price: row.price,
        status: 'held',
        expires_at: row.held_until,
      })
      .execute()
    await appendToOutbox(tx, [
      ...lapsed.map((r) =>
        buildEvent('reservation.expired', r.id, {
          reservationId: r.id,
          scheduleId: input.scheduleId,
          seatId: input.seatId,
          userId: r.user_id,
          expiresAt: r.expires_at.toISOString(),
        }),
      ),
      buildEvent('reservation.held', reservationId, {
        reservationId,
        scheduleId: input.scheduleId,
        seatId: input.seatId,
        userId: input.userId,
        price: row.price,
        expiresAt: row.held_until.toISOString(),
      }),
    ])
    return {
      id: reservationId,
      scheduleId: input.scheduleId,
      seatId: input.seatId,
      seatLabel: row.label,
      userId: input.userId,
      price: row.price,
      status: 'held',
      expiresAt: row.held_until,
      createdAt: new Date(),
      confirmedAt: null,
    }
  })
  seats.rememberHeld(reservation.seatId, reservation.expiresAt)
  return reservation
}
