import { sql } from 'kysely'
import { appendToOutbox, buildEvent, type EventHandler } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { releaseSeat } from './booking-repository.ts'

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

/** Delayed delivery: each reservation.held waits for its own deadline, then the hold is ended. */
export function holdExpirationHandler(): EventHandler<'reservation.held'> {
  return {
    group: 'hold-expiration',
    topic: 'reservation.held',
    // every pending hold sleeps on its own timer, so thousands can wait without holding up each other
    keyConcurrency: 100_000,
    deliverAt: (event) => new Date(event.data.expiresAt),
    async handle(event, { tx }) {
      // A clock behind ours (another machine's) makes it early: fail so the runtime tries again shortly.
      if ((await expireHold(tx, event.data.reservationId)) === 'not-due')
        throw new Error('hold not yet due in SQL')
    },
  }
}

const SWEEP_LOCK = 727_003

/** Safety net: ends holds that lapsed more than `graceSeconds` ago without their event being handled. */
export async function sweepLapsedHolds(db: Db, graceSeconds: number, limit = 500): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const lock = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${SWEEP_LOCK}) as ok`.execute(tx)
    if (!lock.rows[0]?.ok) return 0
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

export function startSweeper(
  db: Db,
  logger: Logger,
  everyMs: number,
  graceSeconds: number,
): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve()
  const timer = setInterval(() => {
    running = sweepLapsedHolds(db, graceSeconds)
      .then((n) => {
        if (n > 0)
          logger.warn({ expired: n }, 'reconciliation sweep ended lapsed holds the expiry worker missed')
      })
      .catch((error: unknown) => logger.error({ err: error }, 'reconciliation sweep failed'))
  }, everyMs)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await running
  }
}
