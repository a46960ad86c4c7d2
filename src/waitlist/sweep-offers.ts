import { sql } from 'kysely'
import type { Task } from '../module.ts'
import { tryXactLock } from '../platform/advisory-locks.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { Db } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { expireOffer, offerSeat } from './offer-seat.ts'

/**
 * Safety net behind the waiting-list consumers (like the sweep behind hold expiry): ends open offers more than
 * `graceSeconds` past their deadline, and offers free seats of schedules whose lists have fans waiting that nobody was
 * offered (a release whose event is still on its way is offered here first; its consumer then finds nothing to do).
 */
export async function sweepWaitlists(
  db: Db,
  options: { graceSeconds: number; offerSeconds: number; limit?: number },
): Promise<{ expired: number; offered: number }> {
  const limit = options.limit ?? 200
  return db.transaction().execute(async (tx) => {
    if (!(await tryXactLock(tx, 'waitlistSweep'))) return { expired: 0, offered: 0 }
    const lapsed = await tx
      .selectFrom('waitlist_offers')
      .select('id')
      .where('status', '=', 'open')
      .where('expires_at', '<', sql<Date>`now() - make_interval(secs => ${options.graceSeconds})`)
      .orderBy('expires_at')
      .limit(limit)
      .execute()
    let expired = 0
    for (const o of lapsed) {
      if ((await expireOffer(tx, o.id, options.offerSeconds)) === 'expired') expired++
    }
    const stranded = await sql<{ id: string }>`
      select s.id from seats s
       where s.schedule_id in (select distinct schedule_id from waitlist_entries where status = 'waiting')
         and s.status = 'available' and (s.offered_to is null or s.offered_until <= now())
         and not exists (select 1 from waitlist_offers o where o.seat_id = s.id and o.status = 'open')
       order by s.id limit ${limit}`.execute(tx)
    let offered = 0
    for (const s of stranded.rows) {
      if (await offerSeat(tx, s.id, options.offerSeconds)) offered++
    }
    return { expired, offered }
  })
}

/** The waiting-list sweep as a background task (workers role). */
export function waitlistSweepTask(
  db: Db,
  logger: Logger,
  options: { everyMs: number; graceSeconds: number; offerSeconds: number },
): Task {
  const loop = createBackgroundLoop({
    name: 'waitlist-sweep',
    logger,
    idleMs: options.everyMs,
    delayFirstRound: true,
    async run() {
      const n = await sweepWaitlists(db, options)
      if (n.expired + n.offered > 0)
        logger.warn(n, 'waiting-list sweep ended lapsed offers or offered seats the consumers missed')
      return false
    },
  })
  return { name: 'waitlist-sweep', roles: ['workers'], start: () => loop.start(), stop: () => loop.stop() }
}
