import { randomUUID } from 'node:crypto'
import { createBackgroundLoop } from '../../../platform/background-loop.ts'
import { type DatabaseHandle, jsonColumn } from '../../../platform/db.ts'
import type { Logger } from '../../../platform/logger.ts'
import { listen } from '../../../platform/pg-listen.ts'
import { execute, statement } from '../../../platform/prepared.ts'
import { FetchGate } from '../consumer-loop.ts'
import { PartitionDispatcher } from '../partition-dispatcher.ts'
import type { ConsumerHandle, ConsumerSpec, TransportRecord } from '../port.ts'
import { GroupMembership, type HeartbeatRounds } from './membership.ts'

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
  /** The instance's heartbeat rounds, shared by its groups. */
  rounds: HeartbeatRounds
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
  const memberId = randomUUID()
  const log = options.logger.child({ group: spec.group, member: memberId.slice(0, 8) })
  const membership = new GroupMembership(handle, {
    group: spec.group,
    memberId,
    topics: spec.topics,
    leaseMs: options.leaseMs,
    rounds: options.rounds,
  })
  const dispatcher = new PartitionDispatcher({
    handle: spec.handle,
    keyConcurrency: spec.keyConcurrency ?? 16,
    inKeyOrder: spec.inKeyOrder,
    dueAt: spec.dueAt,
    onError: (err, at) => log.error({ err, ...at, offset: at.offset?.toString() }, 'consumer'),
    async commit(topic, partition, nextOffset) {
      await membership.commit(topic, partition, nextOffset)
      gate.settled()
    },
  })
  // Fetching stops while the gate is paused, and starts again when it resumes.
  const gate = new FetchGate(
    dispatcher,
    options.maxBuffered,
    { pause() {}, resume: () => fetchSoon() },
    spec.holdFetching,
  )
  let lastHeartbeat = 0
  let lastFetch = 0
  /**
   * A fetch is due: an append woke the group, partitions were claimed, fetching resumed, or the last fetch found
   * records. Otherwise only the fallback poll fetches, so that an idle group costs its heartbeat, not a fetch on
   * every beat (29 groups fetching twice a second were ~60 statements a second on an idle instance).
   */
  let fetchDue = true
  function fetchSoon(): void {
    fetchDue = true
    loop.wake()
  }

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
      headers: jsonColumn(r.headers),
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
      // A member that may have stalled past its leases learns what it lost before it fetches more.
      if (Date.now() - lastHeartbeat >= options.leaseMs / 2) await beat()
      let more = false
      if (fetchDue || Date.now() - lastFetch >= options.pollMs) {
        // Cleared before the fetch: a wake that arrives while it runs asks for another one.
        fetchDue = false
        lastFetch = Date.now()
        // Look again at once while there is more to fetch and room to buffer it.
        more = (await fetchOnce()) > 0 && !gate.paused
        if (more) fetchDue = true
      }
      // Otherwise the fetch goes first: a beat that is due (or a round that is open) does not hold back records
      // that were just appended.
      if (options.rounds.due(lastHeartbeat)) {
        await beat()
        if (fetchDue) more = true
      }
      return more
    },
  })
  async function beat(): Promise<void> {
    lastHeartbeat = Date.now()
    const { released, claimed } = await membership.heartbeat((parts) => dispatcher.revoke(parts))
    if (released > 0) log.debug({ released }, 'released partitions')
    if (claimed > 0) fetchDue = true
  }
  const topics = new Set(spec.topics)
  const unlisten = await listen(handle, LOG_CHANNEL, (payload) => {
    if (!payload || payload.split(',').some((t) => topics.has(t))) fetchSoon()
  })
  const unregister = options.rounds.register({ lastBeat: () => lastHeartbeat, wake: () => loop.wake() })
  loop.start()

  let closed: Promise<void> | undefined
  return {
    group: spec.group,
    assignments: () => [...membership.owned.values()].map(({ topic, partition }) => ({ topic, partition })),
    waitingForDue: () => dispatcher.parked,
    close() {
      closed ??= (async () => {
        unregister()
        await loop.stop()
        await unlisten()
        await dispatcher.close()
        await membership.leave()
      })()
      return closed
    },
  }
}
