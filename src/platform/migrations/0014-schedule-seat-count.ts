import type { Kysely } from 'kysely'
import { runEach } from './run-statements.ts'

// A schedule's seats are all created with it, so their number is written once beside its sales tally. The ranking's
// sell-out check and the ranking read counted the schedule's seats instead, on every batch of confirmations and
// every read: 0.9 ms a batch at 5,000 seats, growing with the venue. Null only for a tally row a consumer created
// without its schedule's (the readers then count, as before).
export async function up(db: Kysely<any>): Promise<void> {
  await runEach(db, [
    `ALTER TABLE schedule_sales ADD COLUMN seat_count integer CHECK (seat_count >= 0)`,
    `UPDATE schedule_sales s SET seat_count = c.n
       FROM (SELECT schedule_id, count(*)::int AS n FROM seats GROUP BY schedule_id) c
      WHERE c.schedule_id = s.schedule_id`,
  ])
}
