import { sql } from 'kysely'
import type { Db } from '../../platform/db.ts'

/** Up to this many unpublished events the backlog is counted; past it, it is read off the sequence numbers. */
export const EXACT_BACKLOG_UP_TO = 10_000

export interface OutboxBacklog {
  /** Events committed but not yet published: counted up to `exactUpTo`, an upper bound past it (`exact` false). */
  backlog: number
  exact: boolean
  /** Age of the oldest unpublished event (0 when none). */
  oldestAgeSeconds: number
}

/**
 * The outbox's backlog, read at a cost that does not grow with it: the ops series, the summary and every metrics
 * scrape read it each second, and while the brokers are away for long the outbox grows by the sale's whole rate. A
 * count and `min(created_at)` over it read the whole heap: 260 ms a reading at 2 million rows, and more every second
 * of the outage, taken from the sale's own database. Now at most `exactUpTo` + 1 rows are counted; past that the
 * backlog is the span of the rows' sequence numbers (two reads of the primary key; at least the count, and equal to it
 * while the relay is stopped, as it publishes and deletes in sequence order), and the age is the first row's. The rows
 * are counted in the primary key's order: the published rows' dead tuples, until a vacuum, fill the heap's pages,
 * while the index's entries for them, marked dead by earlier scans, are skipped a leaf page at a time.
 */
export async function outboxBacklog(db: Db, exactUpTo = EXACT_BACKLOG_UP_TO): Promise<OutboxBacklog> {
  const { rows } = await backlogQuery(exactUpTo).execute(db)
  const { counted, span, age } = rows[0]!
  const exact = counted <= exactUpTo
  return {
    backlog: exact ? counted : Math.max(counted, Number(span)),
    exact,
    oldestAgeSeconds: Math.max(0, age ?? 0),
  }
}

/** The one statement outboxBacklog runs (exported for a test to EXPLAIN it). */
export function backlogQuery(exactUpTo: number) {
  return sql<{ counted: number; span: string | null; age: number | null }>`
    select (select count(*)::int from (select from outbox order by seq limit ${exactUpTo + 1}) as head) as counted,
           (select max(seq) - min(seq) + 1 from outbox)::text as span,
           (select extract(epoch from now() - created_at)::float8 from outbox order by seq limit 1) as age`
}
