import type { Db } from '../platform/db.ts'

/** Leaves the line (frees the admission slot); false when there was nothing to leave. */
export async function leaveQueue(db: Db, scheduleId: string, userId: string): Promise<boolean> {
  const result = await db
    .updateTable('queue_entries')
    .set({ status: 'left' })
    .where('schedule_id', '=', scheduleId)
    .where('user_id', '=', userId)
    .where('status', 'in', ['waiting', 'admitted'])
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}
