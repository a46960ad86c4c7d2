import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { DatabaseHandle, Queryable } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { listen } from '../platform/notifications.ts'
import { createWaker } from '../platform/waker.ts'
import { PartitionDispatcher } from './partition-dispatcher.ts'
import {
  type ConsumerHandle,
  type ConsumerSpec,
  type EventTransport,
  type LagEntry,
  type OutgoingRecord,
  partitionFor,
  type TopicSpec,
  type TransportRecord,
} from './transport.ts'

const CHANNEL = 'event_log'

export interface LocalTransportOptions {
  logger: Logger
  /** How long a member owns a partition without renewing; a dead member's partitions move after this. */
  leaseMs?: number
  heartbeatMs?: number
  /** Fallback poll when no notification arrives. */
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
  const pollMs = options.pollMs ?? 500
  const fetchPerPartition = options.fetchPerPartition ?? 500
  const maxBuffered = options.maxBuffered ?? 20_000
  const partitionCounts = new Map<string, number>()
  const consumers = new Set<ConsumerHandle>()

  async function partitionsOf(topic: string, q: Queryable): Promise<number> {
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

  /** Assigns offsets per partition (locking partitions in a fixed order, so publishers cannot deadlock) and appends. */
  async function appendToLog(tx: Queryable, records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return
    const byPartition = new Map<string, { topic: string; partition: number; records: OutgoingRecord[] }>()
    for (const record of records) {
      const partition = partitionFor(record.key, await partitionsOf(record.topic, tx))
      const id = `${record.topic}\u0000${partition}`
      let group = byPartition.get(id)
      if (!group) {
        group = { topic: record.topic, partition, records: [] }
        byPartition.set(id, group)
      }
      group.records.push(record)
    }
    const groups = [...byPartition.values()].sort((a, b) =>
      a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
    )
    for (const group of groups) {
      const { next_offset } = await tx
        .updateTable('event_partitions')
        .set((eb) => ({ next_offset: eb('next_offset', '+', group.records.length) }))
        .where('topic', '=', group.topic)
        .where('partition', '=', group.partition)
        .returning('next_offset')
        .executeTakeFirstOrThrow()
      const base = next_offset - group.records.length
      const rows = group.records.map((r, i) => ({
        topic: group.topic,
        partition: group.partition,
        offset: base + i,
        key: r.key,
        value: r.value,
        headers: JSON.stringify(r.headers ?? {}),
      }))
      for (let i = 0; i < rows.length; i += 1000) {
        await tx
          .insertInto('event_log')
          .values(rows.slice(i, i + 1000))
          .execute()
      }
    }
    await sql`select pg_notify(${CHANNEL}, '')`.execute(tx)
  }

  const transport: EventTransport = {
    kind: 'local',

    async ensureTopics(specs: readonly TopicSpec[]) {
      const rows = specs.flatMap((s) =>
        Array.from({ length: s.partitions }, (_, p) => ({ topic: s.name, partition: p, next_offset: 0 })),
      )
      for (let i = 0; i < rows.length; i += 500) {
        await db
          .insertInto('event_partitions')
          .values(rows.slice(i, i + 500))
          .onConflict((oc) => oc.doNothing())
          .execute()
      }
      partitionCounts.clear()
    },

    async publish(records: readonly OutgoingRecord[]) {
      if (records.length === 0) return
      await db.transaction().execute((tx) => appendToLog(tx, records))
    },

    publishWithin: (tx, records) => appendToLog(tx, records),

    async consume(spec: ConsumerSpec) {
      const consumer = await startLocalConsumer(handle, spec, {
        logger: options.logger,
        leaseMs,
        heartbeatMs,
        pollMs,
        fetchPerPartition,
        maxBuffered,
      })
      consumers.add(consumer)
      return {
        group: consumer.group,
        assignments: () => consumer.assignments(),
        close: async () => {
          consumers.delete(consumer)
          await consumer.close()
        },
      }
    },

    async lag(groups) {
      const out: LagEntry[] = []
      for (const g of groups) {
        if (g.topics.length === 0) continue
        const rows = await db
          .selectFrom('event_partitions as p')
          .leftJoin('consumer_offsets as o', (join) =>
            join
              .onRef('o.topic', '=', 'p.topic')
              .onRef('o.partition', '=', 'p.partition')
              .on('o.group_id', '=', g.group),
          )
          .select(['p.topic', 'p.partition', 'p.next_offset', 'o.committed'])
          .where('p.topic', 'in', [...g.topics])
          .execute()
        for (const r of rows) {
          const committed = BigInt(r.committed ?? 0)
          const end = BigInt(r.next_offset)
          out.push({
            group: g.group,
            topic: r.topic,
            partition: r.partition,
            committed,
            end,
            lag: end - committed,
          })
        }
      }
      return out
    },

    async close() {
      await Promise.all([...consumers].map((c) => c.close()))
      consumers.clear()
    },
  }
  return transport
}

interface LocalConsumerOptions {
  logger: Logger
  leaseMs: number
  heartbeatMs: number
  pollMs: number
  fetchPerPartition: number
  maxBuffered: number
}

async function startLocalConsumer(
  handle: DatabaseHandle,
  spec: ConsumerSpec,
  options: LocalConsumerOptions,
): Promise<ConsumerHandle> {
  const db = handle.db
  const memberId = randomUUID()
  const log = options.logger.child({ group: spec.group, member: memberId.slice(0, 8) })
  /** Owned partitions and the next offset to fetch from each. */
  const owned = new Map<string, { topic: string; partition: number; position: bigint }>()
  const dispatcher = new PartitionDispatcher({
    handle: spec.handle,
    keyConcurrency: spec.keyConcurrency ?? 16,
    onError: (error, record) =>
      log.error({ err: error, topic: record.topic, partition: record.partition }, 'consumer'),
    async commit(topic, partition, nextOffset) {
      // Fenced: only the member that still holds the lease may move the offset.
      await sql`
        insert into consumer_offsets (group_id, topic, partition, committed)
        select ${spec.group}, ${topic}, ${partition}, ${nextOffset.toString()}::bigint
        where exists (select 1 from consumer_leases where group_id = ${spec.group} and topic = ${topic}
                      and partition = ${partition} and member_id = ${memberId})
        on conflict (group_id, topic, partition)
        do update set committed = greatest(consumer_offsets.committed, excluded.committed)`.execute(db)
    },
  })

  let stopped = false
  const waker = createWaker()
  const unlisten = await listen(handle, CHANNEL, () => waker.notify())
  let lastHeartbeat = 0

  async function heartbeat(): Promise<void> {
    const leaseInterval = sql`make_interval(secs => ${options.leaseMs / 1000})`
    await db
      .insertInto('consumer_members')
      .values({ group_id: spec.group, member_id: memberId, heartbeat_at: sql`now()` })
      .onConflict((oc) => oc.columns(['group_id', 'member_id']).doUpdateSet({ heartbeat_at: sql`now()` }))
      .execute()
    await db
      .deleteFrom('consumer_members')
      .where('group_id', '=', spec.group)
      .where('heartbeat_at', '<', sql<Date>`now() - ${leaseInterval}`)
      .execute()
    // Renew what we hold; anything we believed ours but lost (we stalled past the lease) is revoked here.
    const renewed = await db
      .updateTable('consumer_leases')
      .set({ expires_at: sql`now() + ${leaseInterval}` })
      .where('group_id', '=', spec.group)
      .where('member_id', '=', memberId)
      .returning(['topic', 'partition'])
      .execute()
    const still = new Set(renewed.map((r) => `${r.topic}:${r.partition}`))
    const lost = [...owned.entries()].filter(([id]) => !still.has(id))
    if (lost.length > 0) {
      for (const [id] of lost) owned.delete(id)
      await dispatcher.revoke(lost.map(([, p]) => p))
    }

    const partitions = await db
      .selectFrom('event_partitions')
      .select(['topic', 'partition'])
      .where('topic', 'in', [...spec.topics])
      // Partition-major, so each member's share takes some partitions of every topic, not whole topics.
      .orderBy('partition')
      .orderBy('topic')
      .execute()
    const { members } = await db
      .selectFrom('consumer_members')
      .select(sql<number>`count(*)::int`.as('members'))
      .where('group_id', '=', spec.group)
      .executeTakeFirstOrThrow()
    const share = Math.ceil(partitions.length / Math.max(1, members))

    if (owned.size > share) {
      // Give back the surplus so a newcomer gets its share: finish or abort work, commit, then release.
      const surplus = [...owned.entries()].slice(share)
      for (const [id] of surplus) owned.delete(id)
      await dispatcher.revoke(surplus.map(([, p]) => p))
      for (const [, p] of surplus) {
        await db
          .deleteFrom('consumer_leases')
          .where('group_id', '=', spec.group)
          .where('topic', '=', p.topic)
          .where('partition', '=', p.partition)
          .where('member_id', '=', memberId)
          .execute()
      }
      log.debug({ released: surplus.length }, 'released partitions')
    } else if (owned.size < share) {
      for (const p of partitions) {
        if (owned.size >= share) break
        const id = `${p.topic}:${p.partition}`
        if (owned.has(id)) continue
        const claimed = await sql<{ member_id: string }>`
          insert into consumer_leases (group_id, topic, partition, member_id, expires_at)
          values (${spec.group}, ${p.topic}, ${p.partition}, ${memberId}, now() + ${leaseInterval})
          on conflict (group_id, topic, partition) do update
            set member_id = excluded.member_id, expires_at = excluded.expires_at
            where consumer_leases.expires_at < now() or consumer_leases.member_id = excluded.member_id
          returning member_id`.execute(db)
        if (claimed.rows[0]?.member_id !== memberId) continue
        const committed = await db
          .selectFrom('consumer_offsets')
          .select('committed')
          .where('group_id', '=', spec.group)
          .where('topic', '=', p.topic)
          .where('partition', '=', p.partition)
          .executeTakeFirst()
        owned.set(id, { topic: p.topic, partition: p.partition, position: BigInt(committed?.committed ?? 0) })
      }
    }
  }

  async function fetchOnce(): Promise<number> {
    if (owned.size === 0 || dispatcher.pending >= options.maxBuffered) return 0
    const parts = [...owned.values()].map((p) => ({
      ...p,
      from: dispatcher.bufferedThrough(p.topic, p.partition) ?? p.position,
    }))
    const result = await sql<{
      topic: string
      partition: number
      offset: number
      key: string
      value: string
      headers: Record<string, string>
      ts: number
    }>`
      select e.topic, e.partition, e."offset", e.key, e.value, e.headers,
             (extract(epoch from e.appended_at) * 1000)::float8 as ts
      from unnest(${parts.map((p) => p.topic)}::text[], ${parts.map((p) => p.partition)}::int[],
                  ${parts.map((p) => p.from.toString())}::bigint[]) as p(topic, partition, from_offset)
      cross join lateral (
        select * from event_log l
        where l.topic = p.topic and l.partition = p.partition and l."offset" >= p.from_offset
        order by l."offset" limit ${options.fetchPerPartition}) e
      order by e.topic, e.partition, e."offset"`.execute(db)
    const records: TransportRecord[] = result.rows.map((r) => ({
      topic: r.topic,
      partition: r.partition,
      offset: BigInt(r.offset),
      key: r.key,
      value: r.value,
      headers: typeof r.headers === 'string' ? JSON.parse(r.headers) : r.headers,
      timestamp: Math.round(r.ts),
    }))
    dispatcher.push(records)
    return records.length
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        if (Date.now() - lastHeartbeat >= options.heartbeatMs) {
          lastHeartbeat = Date.now()
          await heartbeat()
        }
        const fetched = await fetchOnce()
        if (fetched > 0 && dispatcher.pending < options.maxBuffered) continue
      } catch (error) {
        if (!stopped) log.warn({ err: error }, 'local consumer round failed; retrying')
      }
      if (stopped) break
      await waker.wait(Math.min(options.pollMs, options.heartbeatMs))
    }
  })()

  return {
    group: spec.group,
    assignments: () => [...owned.values()].map(({ topic, partition }) => ({ topic, partition })),
    async close() {
      if (stopped) return
      stopped = true
      waker.notify()
      await loop
      await unlisten()
      await dispatcher.close()
      await db
        .deleteFrom('consumer_leases')
        .where('group_id', '=', spec.group)
        .where('member_id', '=', memberId)
        .execute()
        .catch(() => {})
      await db
        .deleteFrom('consumer_members')
        .where('group_id', '=', spec.group)
        .where('member_id', '=', memberId)
        .execute()
        .catch(() => {})
    },
  }
}
