import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'

export interface SeatBlock {
  grade: string
  price: number
  count: number
  /** Label prefix; seats are labelled `<prefix>-<n>`. Defaults to the grade. */
  prefix?: string | undefined
}

export type LiveSeatStatus = 'available' | 'held' | 'sold'

/** A seat's status as a fan sees it: a hold past its deadline already reads as available. */
export const liveSeatStatus = sql<LiveSeatStatus>`case when seats.status = 'held' and seats.held_until <= now() then 'available' else seats.status end`

export async function insertConcert(
  tx: Db,
  input: { title: string; artist: string; venue: string },
): Promise<{ id: string }> {
  const id = uuidv7()
  await tx
    .insertInto('concerts')
    .values({ id, ...input })
    .execute()
  return { id }
}

export async function insertSchedule(
  tx: Db,
  input: { concertId: string; startsAt: Date; saleOpensAt: Date; seats: readonly SeatBlock[] },
): Promise<{ id: string; seatCount: number }> {
  const concert = await tx
    .selectFrom('concerts')
    .select('id')
    .where('id', '=', input.concertId)
    .executeTakeFirst()
  if (!concert) throw new AppError('CONCERT_NOT_FOUND')
  const id = uuidv7()
  await tx
    .insertInto('schedules')
    .values({ id, concert_id: input.concertId, starts_at: input.startsAt, sale_opens_at: input.saleOpensAt })
    .execute()
  const seats = input.seats.flatMap((block) =>
    Array.from({ length: block.count }, (_, i) => ({
      id: uuidv7(),
      schedule_id: id,
      label: `${block.prefix ?? block.grade}-${i + 1}`,
      grade: block.grade,
      price: block.price,
    })),
  )
  const labels = new Set(seats.map((s) => s.label))
  if (labels.size !== seats.length) {
    throw new AppError('VALIDATION_FAILED', 'Seat labels collide: give each block its own prefix.', {
      field: 'seats',
    })
  }
  for (let i = 0; i < seats.length; i += 1000) {
    await tx
      .insertInto('seats')
      .values(seats.slice(i, i + 1000))
      .execute()
  }
  await tx
    .insertInto('schedule_sales')
    .values({ schedule_id: id, sold_count: 0, seat_count: seats.length })
    .execute()
  return { id, seatCount: seats.length }
}

export async function listConcerts(db: Db, limit: number) {
  return db
    .selectFrom('concerts')
    .select(['id', 'title', 'artist', 'venue'])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc') // created in one instant (PGlite's clock counts milliseconds): ids are time-ordered
    .limit(limit)
    .execute()
}

export async function findConcert(db: Db, concertId: string) {
  const concert = await db
    .selectFrom('concerts')
    .select(['id', 'title', 'artist', 'venue'])
    .where('id', '=', concertId)
    .executeTakeFirst()
  if (!concert) throw new AppError('CONCERT_NOT_FOUND')
  const schedules = await db
    .selectFrom('schedules')
    .select(['id', 'starts_at', 'sale_opens_at'])
    .where('concert_id', '=', concertId)
    .orderBy('starts_at')
    .execute()
  return { concert, schedules }
}

export async function findSchedule(db: Db, scheduleId: string) {
  const schedule = await db
    .selectFrom('schedules')
    .innerJoin('concerts', 'concerts.id', 'schedules.concert_id')
    .select([
      'schedules.id',
      'schedules.concert_id',
      'schedules.starts_at',
      'schedules.sale_opens_at',
      'concerts.title',
      'concerts.artist',
      'concerts.venue',
    ])
    .where('schedules.id', '=', scheduleId)
    .executeTakeFirst()
  if (!schedule) throw new AppError('SCHEDULE_NOT_FOUND')
  return schedule
}

export async function seatCounts(db: Db, scheduleId: string): Promise<Record<LiveSeatStatus, number>> {
  const rows = await db
    .selectFrom('seats')
    .select([liveSeatStatus.as('status'), sql<number>`count(*)::int`.as('n')])
    .where('schedule_id', '=', scheduleId)
    .groupBy(liveSeatStatus)
    .execute()
  const counts: Record<LiveSeatStatus, number> = { available: 0, held: 0, sold: 0 }
  for (const r of rows) counts[r.status] = r.n
  return counts
}

export async function listSeats(db: Db, scheduleId: string) {
  return db
    .selectFrom('seats')
    .select(['id', 'label', 'grade', 'price', liveSeatStatus.as('status')])
    .where('schedule_id', '=', scheduleId)
    .orderBy('grade')
    .orderBy(sql`length(label)`)
    .orderBy('label')
    .execute()
}
