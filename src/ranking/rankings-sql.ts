import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'

/** A schedule with its sold count, sell-out time and total seats; undefined when there is no such schedule. */
export function findScheduleSales(db: Db, scheduleId: string) {
  return db
    .selectFrom('schedules as s')
    .leftJoin('schedule_sales as ss', 'ss.schedule_id', 's.id')
    .select([
      's.id',
      'ss.sold_count',
      'ss.sold_out_at',
      // Written with the schedule (0014); counted only for a tally row a consumer created without it.
      sql<number>`coalesce(ss.seat_count, (select count(*)::int from seats where seats.schedule_id = s.id))`.as(
        'total',
      ),
    ])
    .where('s.id', '=', scheduleId)
    .executeTakeFirst()
}

/** The best-selling concerts of a UTC day. */
export function topConcertsOfDay(db: Db, day: string, limit: number) {
  return db
    .selectFrom('concert_daily_sales as d')
    .innerJoin('concerts as c', 'c.id', 'd.concert_id')
    .select(['d.concert_id', 'c.title', 'c.artist', 'd.sold_count'])
    .where('d.day', '=', day)
    .orderBy('d.sold_count', 'desc')
    .orderBy('c.title')
    .limit(limit)
    .execute()
}
