import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'

/** A reservation as the API shows it. */
export interface ReservationView {
  id: string
  scheduleId: string
  seatId: string
  seatLabel: string
  userId: string
  price: number
  status: 'held' | 'confirmed' | 'expired' | 'cancelled' | 'refunded'
  expiresAt: string
  createdAt: string
  confirmedAt: string | null
}

function reservationQuery(db: Db) {
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
        ReservationView['status']
      >`case when r.status = 'held' and r.expires_at <= clock_timestamp() then 'expired' else r.status end`.as(
        'status',
      ),
      'r.expires_at',
      'r.created_at',
      'r.confirmed_at',
    ])
}

type ReservationRow = Awaited<ReturnType<ReturnType<typeof reservationQuery>['executeTakeFirstOrThrow']>>

function toView(r: ReservationRow): ReservationView {
  return {
    id: r.id,
    scheduleId: r.schedule_id,
    seatId: r.seat_id,
    seatLabel: r.label,
    userId: r.user_id,
    price: r.price,
    status: r.status,
    expiresAt: r.expires_at.toISOString(),
    createdAt: r.created_at.toISOString(),
    confirmedAt: r.confirmed_at?.toISOString() ?? null,
  }
}

export async function findReservation(db: Db, reservationId: string): Promise<ReservationView> {
  const row = await reservationQuery(db).where('r.id', '=', reservationId).executeTakeFirst()
  if (!row) throw new AppError('RESERVATION_NOT_FOUND')
  return toView(row)
}

export async function listReservations(db: Db, userId: string, limit: number): Promise<ReservationView[]> {
  const rows = await reservationQuery(db)
    .where('r.user_id', '=', userId)
    .orderBy('r.created_at', 'desc')
    .orderBy('r.id', 'desc') // a batch's reservations share their transaction's now()
    .limit(limit)
    .execute()
  return rows.map(toView)
}
