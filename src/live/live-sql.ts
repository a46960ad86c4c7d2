import { sql } from 'kysely'
import type { SeatState } from '../booking/seat-board.ts'
import { liveSeatStatus } from '../catalog/catalog-sql.ts'
import type { Db } from '../platform/db.ts'

export interface SnapshotSeat {
  id: string
  label: string
  grade: string
  price: number
  status: SeatState
  heldUntil: string | undefined
  rev: number
}

/** Every seat of a schedule with its live state, hold deadline and revision (what the seat stream starts from). */
export async function seatSnapshot(db: Db, scheduleId: string): Promise<SnapshotSeat[]> {
  const rows = await db
    .selectFrom('seats')
    .select([
      'id',
      'label',
      'grade',
      'price',
      liveSeatStatus.as('status'),
      sql<Date | null>`case when seats.status = 'held' and seats.held_until > now() then seats.held_until end`.as(
        'held_until',
      ),
      sql<string>`rev::text`.as('rev'),
    ])
    .where('schedule_id', '=', scheduleId)
    .orderBy('grade')
    .orderBy(sql`length(label)`)
    .orderBy('label')
    .execute()
  return rows.map((r) => ({
    id: r.id,
    label: r.label,
    grade: r.grade,
    price: r.price,
    status: r.status,
    heldUntil: r.held_until?.toISOString(),
    rev: Number(r.rev),
  }))
}
