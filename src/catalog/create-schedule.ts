import type { Db, Tx } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { insertSchedule, type SeatBlock } from './catalog-sql.ts'

/**
 * Creates a schedule with its seats. Both instants must be real (the date-time format admits values no clock has,
 * such as a leap second) and the sale must open before the show; `onCreated` runs in the same transaction.
 */
export async function createSchedule(
  db: Db,
  input: {
    concertId: string
    startsAt: string
    saleOpensAt: string
    seats: readonly SeatBlock[]
    onCreated: (tx: Tx, scheduleId: string) => Promise<void>
  },
): Promise<{ id: string; seatCount: number }> {
  const startsAt = new Date(input.startsAt)
  const saleOpensAt = new Date(input.saleOpensAt)
  for (const [field, date] of [
    ['startsAt', startsAt],
    ['saleOpensAt', saleOpensAt],
  ] as const) {
    if (Number.isNaN(date.getTime())) {
      throw new AppError('VALIDATION_FAILED', `${field} is not a valid instant.`, { field })
    }
  }
  if (saleOpensAt > startsAt) {
    throw new AppError('VALIDATION_FAILED', 'saleOpensAt must not be after startsAt.', {
      field: 'saleOpensAt',
    })
  }
  return db.transaction().execute(async (tx) => {
    const schedule = await insertSchedule(tx, {
      concertId: input.concertId,
      startsAt,
      saleOpensAt,
      seats: input.seats,
    })
    await input.onCreated(tx, schedule.id)
    return schedule
  })
}
