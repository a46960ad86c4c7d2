import { sql } from 'kysely'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'

/** Joins the line (or keeps the place already held); before the sale opens the place is drawn at opening. */
export async function enterQueue(db: Db, scheduleId: string, userId: string): Promise<{ entered: boolean }> {
  return db.transaction().execute(async (tx) => {
    const state = await tx
      .selectFrom('queue_state')
      .select(['sequence_name', 'opened'])
      .where('schedule_id', '=', scheduleId)
      .executeTakeFirst()
    if (!state) throw new AppError('SCHEDULE_NOT_FOUND')
    const seq = state.opened ? sql<number>`nextval(${state.sequence_name}::regclass)` : sql<null>`null`
    // Insert without a place first: VALUES would call nextval even when the row exists, and every such gap
    // would push everyone behind one place further back.
    const inserted = await tx
      .insertInto('queue_entries')
      .values({ schedule_id: scheduleId, user_id: userId, seq: null })
      .onConflict((oc) => oc.doNothing())
      .returning('entered_at')
      .executeTakeFirst()
    let entered = inserted !== undefined
    if (entered && state.opened) {
      await tx
        .updateTable('queue_entries')
        .set({ seq })
        .where('schedule_id', '=', scheduleId)
        .where('user_id', '=', userId)
        .execute()
    }
    if (!entered) {
      // Someone still waiting, or admitted and within their window, keeps their place; others go to the back.
      const requeued = await tx
        .updateTable('queue_entries')
        .set({
          seq,
          status: 'waiting',
          entered_at: sql`clock_timestamp()`,
          admitted_at: null,
          admitted_until: null,
        })
        .where('schedule_id', '=', scheduleId)
        .where('user_id', '=', userId)
        .where((eb) =>
          eb.or([
            eb('status', 'in', ['left', 'completed']),
            eb.and([eb('status', '=', 'admitted'), eb('admitted_until', '<=', sql<Date>`now()`)]),
          ]),
        )
        .returning('entered_at')
        .executeTakeFirst()
      entered = requeued !== undefined
    }
    if (entered) {
      await appendToOutbox(tx, [
        buildEvent('queue.entered', `${scheduleId}:${userId}`, {
          scheduleId,
          userId,
          preQueue: !state.opened,
          enteredAt: new Date().toISOString(),
        }),
      ])
    }
    return { entered }
  })
}
