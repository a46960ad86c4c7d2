import { type RawBuilder, sql } from 'kysely'
import type { DatabaseHandle, Db } from '../../../platform/db.ts'
import type { Logger } from '../../../platform/logger.ts'
import { OpenConsumers } from '../consumer-loop.ts'
import { reportDeclaredPartitions } from '../declared-partitions.ts'
import { partitionFor } from '../partitioner.ts'
import type { ConsumerSpec, EventTransport, OutboxRecord, OutgoingRecord, TopicSpec } from '../port.ts'
import { LOG_CHANNEL, startLocalConsumer } from './consumer.ts'
import { HeartbeatRounds } from './membership.ts'

export interface LocalTransportOptions {
  logger: Logger
  /** How long a member owns a partition without renewing; a dead member's partitions move after this. */
  leaseMs?: number
  heartbeatMs?: number
  /**
   * Fallback fetch when no notification arrives (an append notifies, and a reconnected listener wakes every group:
   * a notification is missed only if the database drops it).
   */
  pollMs?: number
  fetchPerPartition?: number
  maxBuffered?: number
}

/**
 * The embedded transport: a partitioned, offset-addressed log in the same database, with consumer groups whose
 * members lease partitions (so several processes can share a group, and a dead one's partitions move on), and
 * offsets committed only after handling. LISTEN/NOTIFY wakes consumers; a slow poll is the safety net.
 */
export function createLocalTransport(handle: DatabaseHandle, options: LocalTransportOptions): EventTransport {
  const db = handle.db
  const leaseMs = options.leaseMs ?? 10_000
  const heartbeatMs = options.heartbeatMs ?? Math.min(1_000, Math.floor(leaseMs / 3))
  const pollMs = options.pollMs ?? 5_000
  const fetchPerPartition = options.fetchPerPartition ?? 500
  const maxBuffered = options.maxBuffered ?? 20_000
  const partitionCounts = new Map<string, number>()
  const consumers = new OpenConsumers()
  const rounds = new HeartbeatRounds(handle, { leaseMs, heartbeatMs })

  async function partitionsOf(topic: string, q: Db): Promise<number> {
    let n = partitionCounts.get(topic)
    if (n === undefined) {
      const row = await q
        .selectFrom('event_partitions')
        .select(sql<number>`count(*)::int`.as('n'))
        .where('topic', '=', topic)
        .executeTakeFirstOrThrow()
      if (row.n === 0) throw new Error(`Unknown topic ${topic}: declare it in the topic catalog`)
      n = row.n
      partitionCounts.set(topic, n)
    }
    return n
  }

  /**
   * Assigns offsets per partition and appends, in one statement: the partitions touched are locked in a fixed order
   * (so publishers cannot deadlock), their ends moved past the new records, the records inserted at the offsets in
   * between, and the consumers woken. The payload names the topics, so only the groups that read one of them wake
   * (an empty one wakes every group). `values`: the records' values, in their order, as a set of `value` and `n`.
   */
  async function append(
    tx: Db,
    records: readonly Omit<OutgoingRecord, 'value'>[],
    values: RawBuilder<unknown>,
  ): Promise<void> {
    if (records.length === 0) return
    // Each topic's partition count once (a batch is mostly one topic), not an await per record.
    const counts = new Map<string, number>()
    for (const record of records)
      if (!counts.has(record.topic)) counts.set(record.topic, await partitionsOf(record.topic, tx))
    const partitions = records.map((r) => partitionFor(r.key, counts.get(r.topic)!))
    const topics = [...counts.keys()].join(',')
    // The headers travel as one JSON array: as text[], the driver escaped every element with two regular-expression
    // replaces into an array literal.
    const { rows } = await sql<{ appended: number }>`
      with records as (
        select r.topic, r.partition, r.key, v.value, r.headers, r.n
          from rows from (unnest(${records.map((r) => r.topic)}::text[]), unnest(${partitions}::int[]),
                          unnest(${records.map((r) => r.key)}::text[]),
                          jsonb_array_elements(${JSON.stringify(records.map((r) => r.headers ?? {}))}::jsonb))
               with ordinality as r(topic, partition, key, headers, n)
          join (${values}) as v on v.n = r.n),
      counts as (select topic, partition, count(*) as added from records group by topic, partition),
      moved as (
        update event_partitions p set next_offset = p.next_offset + c.added
          from (select l.topic, l.partition, c.added from event_partitions l
                  join counts c on c.topic = l.topic and c.partition = l.partition
                 order by l.topic, l.partition for update of l) c
         where p.topic = c.topic and p.partition = c.partition
        returning p.topic, p.partition, p.next_offset - c.added as base),
      appended as (
        insert into event_log (topic, partition, "offset", key, value, headers)
        select r.topic, r.partition, m.base + row_number() over (partition by r.topic, r.partition order by r.n) - 1,
               r.key, r.value, r.headers
          from records r join moved m on m.topic = r.topic and m.partition = r.partition
         -- A partition's records side by side in the table, as a consumer reads them.
         order by r.topic, r.partition, r.n
        returning 1)
      select (select count(*)::int from appended) as appended,
             pg_notify(${LOG_CHANNEL}, ${topics.length < 7000 ? topics : ''})`.execute(tx)
    // A partition the log does not have (its topic's partitions declared fewer since), or an outbox row that is not
    // there, would drop records.
    if (rows[0]?.appended !== records.length)
      throw new Error(
        `appended ${rows[0]?.appended} of ${records.length} records: a partition or an outbox row is missing`,
      )
  }

  /** Appends records whose values are given. */
  function appendToLog(tx: Db, records: readonly OutgoingRecord[]): Promise<void> {
    // The values travel as one JSON array: as text[], the driver escaped every value (JSON, full of quotes) with two
    // regular-expression replaces into an array literal (a tenth of the service's allocations while the relay's events
    // went this way).
    return append(
      tx,
      records,
      sql`select value, n from json_array_elements_text(${JSON.stringify(records.map((r) => r.value))}::json)
            with ordinality as t(value, n)`,
    )
  }

  /**
   * Appends outbox rows, each event read from its row by the statement, as the relay used to read it (`event::text`).
   * The relay read every event out and sent it back: its rows and the JSON array built of them were a quarter of
   * what outlived a young collection during a local payments run, while the fans waited behind each collection.
   */
  function appendFromOutbox(tx: Db, records: readonly OutboxRecord[]): Promise<void> {
    return append(
      tx,
      records,
      sql`select o.event::text as value, t.n
            from unnest(${records.map((r) => String(r.seq))}::bigint[]) with ordinality as t(seq, n)
            join outbox o on o.seq = t.seq`,
    )
  }

  const transport: EventTransport = {
    kind: 'local',

    async ensureTopics(specs: readonly TopicSpec[]) {
      // As on Kafka, a topic that exists keeps the partitions it has: more would move keys to other partitions while
      // their earlier records wait in the old ones. New topics are created whole, in one transaction.
      if (specs.length === 0) return
      const partitions = await db.transaction().execute(async (tx) => {
        const counted = await tx
          .selectFrom('event_partitions')
          .select(['topic', sql<number>`count(*)::int`.as('n')])
          .where(
            'topic',
            'in',
            specs.map((s) => s.name),
          )
          .groupBy('topic')
          .execute()
        const found = new Map(counted.map((r) => [r.topic, r.n]))
        const rows = specs
          .filter((s) => !found.has(s.name))
          .flatMap((s) =>
            Array.from({ length: s.partitions }, (_, p) => ({ topic: s.name, partition: p, next_offset: 0 })),
          )
        for (let i = 0; i < rows.length; i += 500) {
          await tx
            .insertInto('event_partitions')
            .values(rows.slice(i, i + 500))
            .onConflict((oc) => oc.doNothing())
            .execute()
        }
        return new Map(specs.map((s) => [s.name, found.get(s.name) ?? s.partitions]))
      })
      reportDeclaredPartitions(specs, (name) => partitions.get(name)!, options.logger)
      partitionCounts.clear()
    },

    async publish(records: readonly OutgoingRecord[]) {
      if (records.length > 0) await db.transaction().execute((tx) => appendToLog(tx, records))
      return undefined
    },

    publishWithin: (tx, records) => appendFromOutbox(tx, records),

    async consume(spec: ConsumerSpec) {
      const consumer = await startLocalConsumer(handle, spec, {
        logger: options.logger,
        leaseMs,
        heartbeatMs,
        pollMs,
        fetchPerPartition,
        maxBuffered,
        rounds,
      })
      return consumers.track(consumer)
    },

    // Every group in one statement: the ops series and the metrics scrape ask for all of them at once.
    async lag(groups) {
      const pairs = groups.flatMap((g) => g.topics.map((topic) => ({ group: g.group, topic })))
      if (pairs.length === 0) return []
      const { rows } = await sql<{
        group_id: string
        topic: string
        partition: number
        next_offset: string
        committed: string | null
      }>`
        select g.group_id, p.topic, p.partition, p.next_offset, o.committed
        from unnest(${pairs.map((x) => x.group)}::text[], ${pairs.map((x) => x.topic)}::text[]) as g(group_id, topic)
        join event_partitions p on p.topic = g.topic
        left join consumer_offsets o
          on o.group_id = g.group_id and o.topic = p.topic and o.partition = p.partition
        order by g.group_id, p.topic, p.partition`.execute(db)
      return rows.map((r) => {
        const committed = BigInt(r.committed ?? 0)
        const end = BigInt(r.next_offset)
        return {
          group: r.group_id,
          topic: r.topic,
          partition: r.partition,
          committed,
          end,
          lag: end - committed,
        }
      })
    },

    async close() {
      await consumers.closeAll()
    },
  }
  return transport
}
