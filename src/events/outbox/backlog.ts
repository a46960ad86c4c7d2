import { sql } from 'kysely'
import type { Db } from '../../platform/db.ts'

/** Events committed but not yet published, and the age of the oldest (0 when none). */
export async function outboxBacklog(db: Db): Promise<{ backlog: number; oldestAgeSeconds: number }> {
  const row = await db
    .selectFrom('outbox')
    .select([
      sql<number>`count(*)::int`.as('backlog'),
      sql<number>`coalesce(extract(epoch from now() - min(created_at)), 0)::float8`.as('age'),
    ])
    .executeTakeFirstOrThrow()
  return { backlog: row.backlog, oldestAgeSeconds: row.age }
}
