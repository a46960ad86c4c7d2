import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { notifySeatReleased } from './seat-memory.ts'

export interface Reservation {
  id: string
  scheduleId: string
  seatId: string
  seatLabel: string
  userId: string
  price: number
  status: 'held' | 'confirmed' | 'expired' | 'cancelled'
  expiresAt: Date
  createdAt: Date
  confirmedAt: Date | null
}

/** Puts a held seat back on sale, only if it is still held by this reservation. */
export async function releaseSeat(
  tx: Db,
  seatId: string,
  reservationId: string,
  options: { tellInstances: boolean },
): Promise<void> {
  const released = await tx
    .updateTable('seats')
    .set({ status: 'available', reservation_id: null, held_until: null })
    .where('id', '=', seatId)
    .where('reservation_id', '=', reservationId)
    .where('status', '=', 'held')
    .executeTakeFirst()
  // Released before its deadline (a cancel): every instance forgets the seat as taken when this commits. An expiry
  // needs no word: no instance remembers a hold past its deadline (see SeatMemory).
  if (options.tellInstances && Number(released.numUpdatedRows) > 0) {
    await notifySeatReleased(tx, seatId)
  }
}

export function reservationQuery(db: Db) {
  return db
    .selectFrom('reservations as r')
    .innerJoin('seats as s', 's.id', 'r.seat_id')
    .select([
      'r.id',
      'r.schedule_id',
      'r.seat_id',
      's.label',
      'r.user_id',
      'r.price',
      // a hold past its deadline is expired wherever it is read, before any cleanup
      sql<
        Reservation['status']
      >`case when r.status = 'held' and r.expires_at <= clock_timestamp() then 'expired' else r.status end`.as(
        'status',
      ),
      'r.expires_at',
      'r.created_at',
      'r.confirmed_at',
    ])
}

type ReservationRow = Awaited<ReturnType<ReturnType<typeof reservationQuery>['executeTakeFirstOrThrow']>>

export function toReservation(r: ReservationRow): Reservation {
  return {
    id: r.id,
    scheduleId: r.schedule_id,
    seatId: r.seat_id,
    seatLabel: r.label,
    userId: r.user_id,
    price: r.price,
    status: r.status,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    confirmedAt: r.confirmed_at,
  }
}

export async function findReservation(
  db: Db,
  reservationId: string,
  options: { forUpdate?: boolean } = {},
): Promise<Reservation> {
  let query = reservationQuery(db).where('r.id', '=', reservationId)
  if (options.forUpdate) query = query.forUpdate('r')
  const row = await query.executeTakeFirst()
  if (!row) throw new AppError('RESERVATION_NOT_FOUND')
  return toReservation(row)
}

export async function listReservations(db: Db, userId: string, limit: number): Promise<Reservation[]> {
  const rows = await reservationQuery(db)
    .where('r.user_id', '=', userId)
    .orderBy('r.created_at', 'desc')
    .limit(limit)
    .execute()
  return rows.map(toReservation)
}
