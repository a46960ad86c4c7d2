import { randomUUID } from 'node:crypto'
import { createBackgroundLoop } from '../../../platform/background-loop.ts'
import type { DatabaseHandle } from '../../../platform/db.ts'
import type { Logger } from '../../../platform/logger.ts'
import { listen } from '../../../platform/pg-listen.ts'
import { execute, statement } from '../../../platform/prepared.ts'
import { FetchGate } from '../consumer-loop.ts'
import { PartitionDispatcher } from '../partition-dispatcher.ts'
import type { ConsumerHandle, ConsumerSpec, TransportRecord } from '../port.ts'
import { GroupMembership } from './membership.ts'

/** A group's fetch from the partitions it owns: every group runs it on every wake and poll, so it is planned once. */
const fetchStatement = statement(
  'local_consumer_fetch',
  `select e.topic, e.partition, e."offset", e.key, e.value, e.headers,
          (extract(epoch from e.appended_at) * 1000)::float8 as ts
   from unnest($1::text[], $2::int[], $3::bigint[]) as p(topic, partition, from_offset)
   cross join lateral (
     select * from event_log l
     where l.topic = p.topic and l.partition = p.partition and l."offset" >= p.from_offset
     order by l."offset" limit $4) e
   order by e.topic, e.partition, e."offset"`,
)

/** The NOTIFY channel appends wake consumers on. */
export const LOG_CHANNEL = 'event_log'

export interface LocalConsumerOptions {
  logger: Logger
  leaseMs: number
  heartbeatMs: number
  pollMs: number
  fetchPerPartition: number
  maxBuffered: number
}

/**
 * One member of a group on the embedded log: heartbeats and leases (GroupMembership), then fetches from the owned
 * partitions into a PartitionDispatcher. A NOTIFY on append wakes it; a poll is the safety net.
 */
export async function startLocalConsumer(
  handle: DatabaseHandle,
  spec: ConsumerSpec,
  options: LocalConsumerOptions,
): Promise<ConsumerHandle> {
  const db = handle.db
  const memberId = randomUUID()
  const log = options.logger.child({ group: spec.group, member: memberId.slice(0, 8) })
  const membership = new GroupMembership(db, {
    group: spec.group,
    memberId,
    topics: spec.topics,
    leaseMs: options.leaseMs,
  })
  const dispatcher = new PartitionDispatcher({
    handle: spec.handle,
    keyConcurrency: spec.keyConcurrency ?? 16,
    onError: (err, at) => log.error({ err, ...at, offset: at.offset?.toString() }, 'consumer'),
    async commit(topic, partition, nextOffset) {
      await membership.commit(topic, partition, nextOffset)
      gate.settled()
    },
  })
  // Fetching stops while the gate is paused; the loop's own wait lets it look again.
  const gate = new FetchGate(dispatcher, options.maxBuffered)
  let lastHeartbeat = 0

  async function fetchOnce(): Promise<number> {
    if (membership.owned.size === 0 || gate.paused) return 0
    const parts = [...membership.owned.values()].map((p) => ({
      ...p,
      from: dispatcher.bufferedThrough(p.topic, p.partition) ?? p.position,
    }))
    const rows = await execute<{
      topic: string
      partition: number
      offset: number
      key: string
      value: string
      headers: Record<string, string>
      ts: number
    }>(handle, fetchStatement, [
      parts.map((p) => p.topic),
      parts.map((p) => p.partition),
      parts.map((p) => p.from.toString()),
      options.fetchPerPartition,
    ])
    const records: TransportRecord[] = rows.map((r) => ({
      topic: r.topic,
      partition: r.partition,
      offset: BigInt(r.offset),
      key: r.key,
      value: r.value,
      headers: typeof r.headers === 'string' ? JSON.parse(r.headers) : r.headers,
      timestamp: Math.round(r.ts),
    }))
    gate.push(records)
    return records.length
  }

  const loop = createBackgroundLoop({
    name: `local-consumer:${spec.group}`,
    logger: log,
    idleMs: Math.min(options.pollMs, options.heartbeatMs),
    backoff: { baseMs: 100, capMs: Math.min(options.pollMs, options.heartbeatMs) },
    async run() {
      if (Date.now() - lastHeartbeat >= options.heartbeatMs) {
        lastHeartbeat = Date.now()
        const { released } = await membership.heartbeat((parts) => dispatcher.revoke(parts))
        if (released > 0) log.debug({ released }, 'released partitions')
      }
      // Look again at once while there is more to fetch and room to buffer it.
      return (await fetchOnce()) > 0 && !gate.paused
    },
  })
  const topics = new Set(spec.topics)
  const unlisten = await listen(handle, LOG_CHANNEL, (payload) => {
    if (!payload || payload.split(',').some((t) => topics.has(t))) loop.wake()
  })
  loop.start()

  let closed: Promise<void> | undefined
  return {
    group: spec.group,
    assignments: () => [...membership.owned.values()].map(({ topic, partition }) => ({ topic, partition })),
    close() {
      closed ??= (async () => {
        await loop.stop()
        await unlisten()
        await dispatcher.close()
        await membership.leave()
      })()
      return closed
    },
  }
}
