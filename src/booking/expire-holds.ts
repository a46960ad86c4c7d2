import { sql } from 'kysely'
import { tryXactLock } from '../platform/advisory-locks.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { type Routine, routine } from '../platform/routines.ts'

export type ExpiryOutcome = 'expired' | 'not-due' | 'done'

/**
 * Ends lapsed holds once, in the caller's transaction: a seat goes back on sale only if it still points at the
 * reservation and its deadline has passed by the database clock (a payment that won the race keeps it sold), and
 * reservation.expired is recorded with it. Per reservation: 'expired' when this call ended it, 'not-due' while the
 * database clock is still before its deadline, 'done' when there was nothing to do (paid, cancelled, taken over, or
 * already expired).
 */
export async function expireHolds(
  tx: Db,
  reservationIds: readonly string[],
): Promise<Map<string, ExpiryOutcome>> {
  if (reservationIds.length === 0) return new Map()
  const result = await sql<{ reservation_id: string; outcome: ExpiryOutcome }>`
    select reservation_id, outcome from expire_holds(${[...reservationIds]}::uuid[])`.execute(tx)
  return new Map(result.rows.map((r) => [r.reservation_id, r.outcome]))
}

export const expireHoldsRoutine: Routine = routine(
  'expire_holds',
  `create or replace function expire_holds(p_ids uuid[]) returns table (reservation_id uuid, outcome text)
   language plpgsql as $$
  declare
    v_now timestamptz := clock_timestamp();
  begin
    -- seats first, in id order (the lock order, and no deadlock between two batches), then the reservations; a
    -- hold ends when it is released (clock time, never before its deadline), not when the transaction began
    perform 1 from seats s
     where s.reservation_id = any(p_ids) and s.status = 'held' and s.held_until <= v_now order by s.id for update;
    update seats s set status = 'available', reservation_id = null, held_until = null
     where s.reservation_id = any(p_ids) and s.status = 'held' and s.held_until <= v_now;
    return query
    with expired as (
      update reservations r set status = 'expired', ended_at = clock_timestamp()
       where r.id = any(p_ids) and r.status = 'held' and r.expires_at <= v_now
      returning r.id, r.schedule_id, r.seat_id, r.user_id, r.expires_at),
    events as (
      insert into outbox (id, topic, key, event)
      select e.event_id, 'reservation.expired', e.id::text, cloud_event(e.event_id, 'reservation.expired', e.id::text,
        jsonb_build_object('reservationId', e.id, 'scheduleId', e.schedule_id, 'seatId', e.seat_id,
          'userId', e.user_id, 'expiresAt', iso_time(e.expires_at)))
      from (select expired.*, uuid_v7() as event_id from expired) e)
    select r.id, case when x.id is not null then 'expired' when r.status = 'held' then 'not-due' else 'done' end
      from reservations r left join expired x on x.id = r.id
     where r.id = any(p_ids);
  end $$`,
)

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
    const outcomes = await expireHolds(
      tx,
      lapsed.map((r) => r.id),
    )
    return [...outcomes.values()].filter((o) => o === 'expired').length
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
