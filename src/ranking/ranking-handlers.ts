import { sql } from 'kysely'
import type { TransactionHandler } from '../events/index.ts'

/**
 * Sales rankings from reservation.confirmed: per-schedule sold count and sell-out time, and per-concert daily
 * sales. The runtime records the event id in the same transaction, so a redelivery never counts twice.
 */
export function rankingHandler(): TransactionHandler<'reservation.confirmed'> {
  return {
    group: 'ranking',
    topic: 'reservation.confirmed',
    async handle(event, { tx }) {
      const { scheduleId, concertId, confirmedAt } = event.data
      await sql`
        insert into schedule_sales as s (schedule_id, sold_count, sold_out_at, updated_at)
        values (${scheduleId}, 1, null, now())
        on conflict (schedule_id) do update set sold_count = s.sold_count + 1, updated_at = now()`.execute(tx)
      // Sold out when every seat is sold: stamp the time of the last sale, once. Confirmations of different
      // reservations may be handled out of order (other partitions), so that is not always this event's time.
      await sql`
        update schedule_sales s set sold_out_at = greatest(${confirmedAt}::timestamptz,
          (select max(confirmed_at) from reservations where schedule_id = ${scheduleId} and status = 'confirmed'))
        where s.schedule_id = ${scheduleId} and s.sold_out_at is null
          and s.sold_count >= (select count(*) from seats where schedule_id = ${scheduleId})`.execute(tx)
      await sql`
        insert into concert_daily_sales as d (concert_id, day, sold_count)
        values (${concertId}, (${confirmedAt}::timestamptz at time zone 'UTC')::date, 1)
        on conflict (day, concert_id) do update set sold_count = d.sold_count + 1`.execute(tx)
    },
  }
}
