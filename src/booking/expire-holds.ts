import { sql } from 'kysely'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import { tryXactLock } from '../platform/advisory-locks.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { releaseSeat } from './reservations-sql.ts'

/**
 * Ends a lapsed hold once: the seat goes back on sale only if it still points at this reservation and its
 * deadline has passed (a payment that won the race keeps it sold), and reservation.expired is recorded with it.
 * Says 'not-due' while the database clock is still before the deadline, 'done' when there is nothing to do
 * (paid, cancelled, taken over, or already expired), 'expired' when this call ended it.
 */
export async function expireHold(tx: Db, reservationId: string): Promise<'expired' | 'not-due' | 'done'> {
  const expired = await tx
    .updateTable('reservations')
    .set({ status: 'expired', ended_at: sql`now()` })
    .where('id', '=', reservationId)
    .where('status', '=', 'held')
    .where('expires_at', '<=', sql<Date>`clock_timestamp()`)
    .returning(['id', 'schedule_id', 'seat_id', 'user_id', 'expires_at'])
    .executeTakeFirst()
  if (!expired) {
    const pending = await tx
      .selectFrom('reservations')
      .select('id')
      .where('id', '=', reservationId)
      .where('status', '=', 'held')
      .executeTakeFirst()
    return pending ? 'not-due' : 'done'
  }
  await releaseSeat(tx, expired.seat_id, expired.id, { tellInstances: false })
  await appendToOutbox(tx, [
    buildEvent('reservation.expired', expired.id, {
      reservationId: expired.id,
      scheduleId: expired.schedule_id,
      seatId: expired.seat_id,
      userId: expired.user_id,
      expiresAt: expired.expires_at.toISOString(),
    }),
  ])
  return 'expired'
}

/** Safety net: ends holds that lapsed more than `graceSeconds` ago without their event being handled. */
export async function sweepLapsedHolds(db: Db, graceSeconds: number, limit = 500): Promise<number> {
  return db.transaction().execute(async (tx) => {
    if (!(await tryXactLock(tx, 'sweep'))) return 0
    const lapsed = await tx
      .selectFrom('reservations')
      .select('id')
      .where('status', '=', 'held')
      .where('expires_at', '<', sql<Date>`now() - make_interval(secs => ${graceSeconds})`)
      .orderBy('expires_at')
      .limit(limit)
      .execute()
    let n = 0
    for (const r of lapsed) if ((await expireHold(tx, r.id)) === 'expired') n++
    return n
  })
}

/** The reconciliation sweep as a background task. */
export function sweeperTask(db: Db, logger: Logger, everyMs: number, graceSeconds: number) {
  const loop = createBackgroundLoop({
    name: 'hold-sweep',
    logger,
    idleMs: everyMs,
    delayFirstRound: true,
    async run() {
      const n = await sweepLapsedHolds(db, graceSeconds)
      if (n > 0)
        logger.warn({ expired: n }, 'reconciliation sweep ended lapsed holds the expiry worker missed')
      return false
    },
  })
  return { name: 'hold-sweep', start: () => loop.start(), stop: () => loop.stop() }
}
