import { sql } from 'kysely'
import type { CloudEvent, TransactionHandler } from '../events/index.ts'
import type { Tx } from '../platform/db.ts'

/**
 * Sales rankings from reservation.confirmed: per-schedule sold count and sell-out time, and per-concert daily
 * sales. The runtime records the event ids in the same transaction, so a redelivery never counts twice. A batch
 * adds up its sales first: one row write per schedule and per concert-day, in key order (no deadlock between
 * batches of parallel partitions).
 */
export function rankingHandler(): TransactionHandler<'reservation.confirmed'> {
  return {
    group: 'ranking',
    yieldsToFans: true,
    topic: 'reservation.confirmed',
    handle: (event, { tx }) => recordSales(tx, [event]),
    handleBatch: (events, { tx }) => recordSales(tx, events),
  }
}

async function recordSales(tx: Tx, events: readonly CloudEvent<'reservation.confirmed'>[]): Promise<void> {
  const bySchedule = new Map<string, { count: number; lastAt: string }>()
  const byDay = new Map<string, { concertId: string; day: string; count: number }>()
  for (const { data } of events) {
    const s = bySchedule.get(data.scheduleId) ?? { count: 0, lastAt: data.confirmedAt }
    s.count++
    if (data.confirmedAt > s.lastAt) s.lastAt = data.confirmedAt
    bySchedule.set(data.scheduleId, s)
    const day = data.confirmedAt.slice(0, 10)
    const key = `${data.concertId}:${day}`
    const d = byDay.get(key) ?? { concertId: data.concertId, day, count: 0 }
    d.count++
    byDay.set(key, d)
  }
  const schedules = [...bySchedule.keys()].sort()
  await sql`
    insert into schedule_sales as s (schedule_id, sold_count, sold_out_at, updated_at)
    select id, n, null, now() from unnest(${schedules}::uuid[], ${schedules.map((id) => bySchedule.get(id)!.count)}::int[])
      as t(id, n) order by id
    on conflict (schedule_id) do update set sold_count = s.sold_count + excluded.sold_count, updated_at = now()`.execute(
    tx,
  )
  // Sold out when every seat is sold: stamp the time of the last sale, once. Confirmations of different
  // reservations may be handled out of order (other partitions), so that is not always this batch's latest.
  await sql`
    update schedule_sales s set sold_out_at = greatest(t.last_at,
      (select max(confirmed_at) from reservations where schedule_id = s.schedule_id and status = 'confirmed'))
    from unnest(${schedules}::uuid[], ${schedules.map((id) => bySchedule.get(id)!.lastAt)}::timestamptz[]) as t(id, last_at)
    where s.schedule_id = t.id and s.sold_out_at is null
      and s.sold_count >= coalesce(s.seat_count, (select count(*) from seats where schedule_id = s.schedule_id))`.execute(
    tx,
  )
  const days = [...byDay.values()].sort((a, b) =>
    a.day === b.day ? (a.concertId < b.concertId ? -1 : 1) : a.day < b.day ? -1 : 1,
  )
  await sql`
    insert into concert_daily_sales as d (concert_id, day, sold_count)
    select c, day, n from unnest(${days.map((d) => d.concertId)}::uuid[], ${days.map((d) => d.day)}::date[],
      ${days.map((d) => d.count)}::int[]) as t(c, day, n) order by day, c
    on conflict (day, concert_id) do update set sold_count = d.sold_count + excluded.sold_count`.execute(tx)
}

/**
 * A refund takes its sale back out of the rankings: the schedule's sold count and its concert's sales on the day the
 * sale was confirmed (read from the reservation). A schedule that sold out keeps its sell-out time: it did sell out.
 * The confirmation and the refund travel on different topics, so they may be counted in either order; the counts
 * agree once both are.
 */
export function rankingRefundHandler(): TransactionHandler<'reservation.refunded'> {
  return {
    group: 'ranking-refunds',
    yieldsToFans: true,
    topic: 'reservation.refunded',
    async handle({ data }, { tx }) {
      const sale = await tx
        .selectFrom('reservations')
        .select('confirmed_at')
        .where('id', '=', data.reservationId)
        .executeTakeFirst()
      await sql`
        insert into schedule_sales as s (schedule_id, sold_count, sold_out_at, updated_at)
        values (${data.scheduleId}, -1, null, now())
        on conflict (schedule_id) do update set sold_count = s.sold_count - 1, updated_at = now()`.execute(tx)
      if (!sale?.confirmed_at) return
      const day = new Date(sale.confirmed_at).toISOString().slice(0, 10)
      await sql`
        insert into concert_daily_sales as d (concert_id, day, sold_count) values (${data.concertId}, ${day}, -1)
        on conflict (day, concert_id) do update set sold_count = d.sold_count - 1`.execute(tx)
    },
  }
}
