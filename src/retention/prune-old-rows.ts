import { sql } from 'kysely'
import { tryXactLock } from '../platform/advisory-locks.ts'
import type { Config } from '../platform/config.ts'
import type { Db } from '../platform/db.ts'
import type { AgeRule } from './retention-rules.ts'

/**
 * Deletes one batch of `rule`'s rows older than its age, under the `retention` advisory lock (one instance prunes at
 * a time); null when another instance holds the lock. Each batch is its own short transaction.
 */
export async function pruneBatch(
  db: Db,
  rule: AgeRule,
  config: Config,
  batchSize: number,
): Promise<number | null> {
  const cutoff = sql<Date>`now() - make_interval(secs => ${config[rule.age]})`
  return db.transaction().execute(async (tx) => {
    if (!(await tryXactLock(tx, 'retention'))) return null
    const table = sql.table(rule.table)
    const result = await sql`
      delete from ${table} where ctid in (
        select ctid from ${table} where ${rule.where(cutoff)} limit ${batchSize})`.execute(tx)
    return Number(result.numAffectedRows ?? 0)
  })
}

/**
 * The embedded transport's log: records below every consumer group's committed offset on their partition and older
 * than their topic's retention (RETENTION_EVENT_LOG_SECONDS overrides it). A group holding a lease on the partition
 * but with nothing committed yet counts as offset 0 (it still needs everything). A partition no group reads is pruned
 * by age alone, as Kafka does. On Kafka the table is empty and this deletes nothing.
 */
export async function pruneEventLogBatch(
  db: Db,
  retentionSecondsByTopic: ReadonlyMap<string, number>,
  batchSize: number,
): Promise<number | null> {
  if (retentionSecondsByTopic.size === 0) return 0
  return db.transaction().execute(async (tx) => {
    if (!(await tryXactLock(tx, 'retention'))) return null
    const topics = [...retentionSecondsByTopic.keys()]
    const ages = topics.map((t) => retentionSecondsByTopic.get(t)!)
    const result = await sql`
      delete from event_log where ctid in (
        select l.ctid
        from unnest(${topics}::text[], ${ages}::float8[]) as t(topic, age)
        join event_partitions p on p.topic = t.topic
        cross join lateral (
          select min(coalesce(o.committed, 0)) as upto
          from (select group_id from consumer_offsets where topic = p.topic and partition = p.partition
                union
                select group_id from consumer_leases where topic = p.topic and partition = p.partition) g
          left join consumer_offsets o
            on o.group_id = g.group_id and o.topic = p.topic and o.partition = p.partition) c
        cross join lateral (
          select e.ctid from event_log e
          where e.topic = p.topic and e.partition = p.partition
            and e."offset" < coalesce(c.upto, p.next_offset)
            and e.appended_at < now() - make_interval(secs => t.age)
          order by e."offset"
          limit ${batchSize}) l
        limit ${batchSize})`.execute(tx)
    return Number(result.numAffectedRows ?? 0)
  })
}

/**
 * Outbox leftovers: events committed long ago (older than RETENTION_OUTBOX_ALERT_SECONDS) that no relay has published,
 * because no instance runs the relay role or the transport refuses them (a topic missing from the catalog). They are
 * never deleted: they are business events nobody has seen yet. Retention reports them for an alert.
 */
export async function outboxLeftovers(db: Db, olderThanSeconds: number, knownTopics: ReadonlySet<string>) {
  const rows = await db
    .selectFrom('outbox')
    .select([
      'topic',
      sql<number>`count(*)::int`.as('n'),
      sql<number>`extract(epoch from now() - min(created_at))::float8`.as('age'),
    ])
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .groupBy('topic')
    .execute()
  return {
    stale: rows.reduce((n, r) => n + r.n, 0),
    oldestAgeSeconds: rows.reduce((m, r) => Math.max(m, r.age), 0),
    unknownTopics: rows.filter((r) => !knownTopics.has(r.topic)).map((r) => r.topic),
    byTopic: rows.map((r) => ({ topic: r.topic, count: r.n })),
  }
}
