import { setTimeout as sleep } from 'node:timers/promises'
import {
  Consumer,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  stringDeserializers,
} from '@platformatic/kafka'
import { backoffMs } from '../../../platform/backoff.ts'
import type { Logger } from '../../../platform/logger.ts'
import { FetchGate } from '../consumer-loop.ts'
import { PartitionDispatcher } from '../partition-dispatcher.ts'
import type { ConsumerHandle, ConsumerSpec, TransportRecord } from '../port.ts'
import { OffsetCommitter } from './offset-committer.ts'

export interface KafkaConsumerOptions {
  brokers: string[]
  clientId: string
  logger: Logger
  /**
   * Group membership. Heartbeats run on their own timer, whatever the handlers do, so a handler may take longer
   * than the session; the session only bounds how long a dead member keeps its partitions.
   */
  sessionTimeoutMs?: number | undefined
  heartbeatIntervalMs?: number | undefined
  rebalanceTimeoutMs?: number | undefined
  /** Records buffered or running per consumer before fetching pauses. */
  maxBuffered?: number | undefined
  /**
   * Static membership (KIP-345): a member restarted with the same id takes its partitions back at once, without a
   * rebalance and without waiting for the session of the member that died.
   */
  groupInstanceId?: string | undefined
}

export type StringConsumer = Consumer<string, string, string, string>
type StringStream = MessagesStream<string, string, string, string>
type StringMessage = Message<string, string, string, string>

export type RunningConsumer = Omit<ConsumerHandle, 'group'>

/** A partition this member owns, with the position the dispatcher has been fed up to. */
interface OwnedPartition {
  readonly topic: string
  readonly partition: number
  readonly key: string
  /** Next offset to hand to the dispatcher; undefined until the start (the committed offset) is known. */
  next: bigint | undefined
  /** Leader epochs by first offset, for the epoch that goes with a committed offset. */
  epochs: { from: bigint; epoch: number }[]
  /** A hole seen at `next`: refetched a few times before it is believed (records removed by retention). */
  gap: { at: bigint; fetch: number; count: number } | undefined
  /**
   * Records fetched while the start was still being read, in fetch order, fed from the start once it is known. Dropped
   * instead, they would be fetched again only after the fetch sent meanwhile from past them, which waits at the broker
   * for up to maxWaitTime when nothing newer comes. Undefined once taken: fed, given up with the partition, or more
   * arrived than are kept (the partition is then fetched again from its start).
   */
  early: StringMessage[] | undefined
}

export const partitionKey = (topic: string, partition: number) => `${topic}:${partition}`

/** One group member: a Consumer whose stream feeds a PartitionDispatcher; offsets committed for the handled prefix. */
export async function startConsumer(
  spec: ConsumerSpec,
  options: KafkaConsumerOptions,
): Promise<RunningConsumer> {
  const log = options.logger.child({ group: spec.group })
  const maxBuffered = options.maxBuffered ?? 20_000
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000
  const consumer: StringConsumer = new Consumer({
    clientId: options.clientId,
    bootstrapBrokers: options.brokers,
    groupId: spec.group,
    ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
    deserializers: stringDeserializers,
    autocommit: false,
    sessionTimeout,
    rebalanceTimeout: Math.max(options.rebalanceTimeoutMs ?? 60_000, sessionTimeout),
    heartbeatInterval: Math.min(options.heartbeatIntervalMs ?? 3_000, Math.floor(sessionTimeout / 3)),
    // How long a fetch with nothing to return waits at the broker (a record arriving answers it at once). Each group
    // keeps one fetch per broker in flight, so on an idle service this sets what the ~29 groups cost: at 500 ms the
    // brokers and the service spent ~18 % of a core on it, at 2 s ~7 %. It also bounds how long a partition gained
    // in a rebalance waits for the fetch already in flight to its broker.
    maxWaitTime: 2_000,
    maxBytes: 16 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
    // Enough to ride out a broker failover (a dead leader is fenced after a few seconds) without tearing down the stream.
    retries: 10,
    retryDelay: 1_000,
  })

  const owned = new Map<string, OwnedPartition>()
  /** Revocations in progress: a partition given back to us is fed again only after its old work settled. */
  const revoking = new Map<string, Promise<void>>()
  let stream: StringStream | undefined
  let closing = false
  let fetches = 0
  let batch: TransportRecord[] = []
  /** Early records kept across partitions, at most maxBuffered. */
  let earlyKept = 0

  const committer = new OffsetCommitter(consumer, log, (key) => owned.has(key) && !closing)
  const dispatcher = new PartitionDispatcher({
    handle: spec.handle,
    keyConcurrency: spec.keyConcurrency ?? 16,
    inKeyOrder: spec.inKeyOrder,
    dueAt: spec.dueAt,
    onError: (err, at) => log.error({ err, ...at, offset: at.offset?.toString() }, 'consumer'),
    async commit(topic, partition, nextOffset) {
      // Queued, not awaited: commits are coalesced into one request at a time; revoke and close flush them.
      committer.enqueue({
        topic,
        partition,
        offset: nextOffset,
        leaderEpoch: epochFor(topic, partition, nextOffset),
      })
      gate.settled()
    },
  })
  const gate = new FetchGate(
    dispatcher,
    maxBuffered,
    {
      pause() {
        stream?.pause()
        log.debug({ pending: dispatcher.pending }, 'fetching paused')
      },
      resume() {
        if (closing) return
        stream?.resume()
        log.debug({ pending: dispatcher.pending }, 'fetching resumed')
      },
    },
    spec.holdFetching,
  )

  function epochFor(topic: string, partition: number, nextOffset: bigint): number {
    const p = owned.get(partitionKey(topic, partition))
    if (!p) return -1
    // The epoch of the last record below the committed offset; older entries are no longer needed.
    let epoch = -1
    let i = 0
    for (; i < p.epochs.length && p.epochs[i]!.from < nextOffset; i++) epoch = p.epochs[i]!.epoch
    if (i > 1) p.epochs.splice(0, i - 1)
    return epoch
  }

  function seek(p: OwnedPartition): void {
    if (p.next !== undefined) stream?.offsetsToFetch.set(p.key, p.next)
  }

  /** True if a record past the expected offset may be taken (the hole is real), false after asking to refetch. */
  function acceptHole(p: OwnedPartition, offset: bigint): boolean {
    const at = p.next!
    // A fetch sent before a seek or a rejoin may answer from a later position: count each answer once.
    if (p.gap?.at === at) {
      if (p.gap.fetch !== fetches) p.gap = { at, fetch: fetches, count: p.gap.count + 1 }
    } else {
      p.gap = { at, fetch: fetches, count: 1 }
    }
    if (p.gap.count > 3) {
      log.warn(
        { topic: p.topic, partition: p.partition, from: at, to: offset },
        'offsets missing from the log',
      )
      p.gap = undefined
      return true
    }
    seek(p)
    return false
  }

  function onMessage(message: StringMessage): void {
    if (closing) return
    const p = owned.get(partitionKey(message.topic, message.partition))
    // Not ours (a fetch answered after a rebalance): dropped, fetched again by whoever owns it.
    if (!p) return
    if (p.next === undefined) {
      keepEarly(p, message)
      return
    }
    if (message.offset < p.next) return
    if (message.offset > p.next && !acceptHole(p, message.offset)) return
    p.gap = undefined
    p.next = message.offset + 1n
    if (p.epochs.at(-1)?.epoch !== message.leaderEpoch)
      p.epochs.push({ from: message.offset, epoch: message.leaderEpoch })
    if (batch.length === 0) queueMicrotask(flushBatch)
    batch.push(toTransportRecord(message))
  }

  function keepEarly(p: OwnedPartition, message: StringMessage): void {
    if (!p.early) return
    if (earlyKept >= maxBuffered) {
      takeEarly(p)
      return
    }
    p.early.push(message)
    earlyKept++
  }

  /** The partition's early records, out of the count; none are kept for it from now on. */
  function takeEarly(p: OwnedPartition): StringMessage[] | undefined {
    const early = p.early
    earlyKept -= early?.length ?? 0
    p.early = undefined
    return early
  }

  /** The start is known: the early records from it on are fed, or, when they do not reach back to it, fetched again. */
  function feedEarly(p: OwnedPartition): void {
    const early = takeEarly(p)
    if (early && early.length > 0 && early[0]!.offset <= p.next!) {
      for (const message of early) onMessage(message)
    } else {
      seek(p)
    }
  }

  function flushBatch(): void {
    const records = batch
    batch = []
    if (closing) return
    gate.push(records)
  }

  /** Compares the new assignment with what we own: revokes what moved away, opens what arrived. */
  function onAssignment(): void {
    const current = new Map<string, { topic: string; partition: number }>()
    for (const a of consumer.assignments ?? []) {
      for (const partition of a.partitions)
        current.set(partitionKey(a.topic, partition), { topic: a.topic, partition })
    }
    const lost = [...owned.values()].filter((p) => !current.has(p.key))
    for (const p of lost) {
      owned.delete(p.key)
      takeEarly(p)
    }
    const gained: OwnedPartition[] = []
    for (const [key, { topic, partition }] of current) {
      if (owned.has(key)) continue
      const p: OwnedPartition = {
        topic,
        partition,
        key,
        next: undefined,
        epochs: [],
        gap: undefined,
        early: [],
      }
      owned.set(key, p)
      gained.push(p)
    }
    if (lost.length === 0 && gained.length === 0) return
    log.info(
      {
        member: consumer.memberId,
        generation: consumer.generationId,
        owned: owned.size,
        lost: lost.length,
        gained: gained.length,
      },
      'assignment changed',
    )
    if (lost.length > 0) {
      // Aborts and waits for their work; what finished is committed (a late commit only causes redelivery).
      const settled = dispatcher
        .revoke(lost)
        .then(() => committer.flush())
        .catch((err: unknown) => log.warn({ err }, 'revoking partitions'))
        .finally(() => gate.settled())
      for (const p of lost) {
        const previous = revoking.get(p.key)
        const both = previous ? Promise.all([previous, settled]).then(() => {}) : settled
        revoking.set(p.key, both)
        void both.finally(() => {
          if (revoking.get(p.key) === both) revoking.delete(p.key)
        })
      }
    }
    if (gained.length > 0) void openPartitions(gained)
  }

  /** Starts feeding gained partitions from their committed offset (or the log start), once old work settled. */
  async function openPartitions(parts: OwnedPartition[]): Promise<void> {
    for (let attempt = 0; !closing; attempt++) {
      const waiting = parts.filter((p) => owned.get(p.key) === p && p.next === undefined)
      if (waiting.length === 0) return
      try {
        await Promise.all(waiting.map((p) => revoking.get(p.key)))
        await committer.flush()
        const starts = await startOffsets(consumer, waiting)
        for (const p of waiting) {
          if (owned.get(p.key) !== p) continue
          p.next = starts.get(p.key)
          feedEarly(p)
        }
        return
      } catch (err) {
        if (closing) return
        log.warn({ err, attempt }, 'reading committed offsets failed; retrying')
        await sleep(backoffMs(attempt, 250, 5_000))
      }
    }
  }

  async function openStream(): Promise<void> {
    const s: StringStream = await consumer.consume({
      topics: [...spec.topics],
      mode: 'committed',
      fallbackMode: 'earliest',
      autocommit: false,
    })
    if (closing) {
      await s.close()
      return
    }
    stream = s
    s.on('fetch', () => {
      fetches++
    })
    s.on('data', onMessage)
    s.on('error', (err) => log.error({ err }, 'kafka consumer stream failed'))
    s.once('close', () => {
      if (stream === s) stream = undefined
      if (!closing) void reopenStream()
    })
    if (gate.paused) s.pause()
    // The stream starts at the committed offsets; partitions we already fed continue from where we are.
    for (const p of owned.values()) seek(p)
  }

  async function reopenStream(): Promise<void> {
    for (let attempt = 0; !closing; attempt++) {
      await sleep(backoffMs(attempt, 500, 10_000))
      if (closing) return
      try {
        await openStream()
        log.info('kafka consumer stream reopened')
        return
      } catch (err) {
        log.warn({ err, attempt }, 'reopening the consumer stream failed')
      }
    }
  }

  let rejoining = false
  async function rejoin(): Promise<void> {
    if (rejoining) return
    rejoining = true
    try {
      for (let attempt = 0; !closing; attempt++) {
        await sleep(backoffMs(attempt, 500, 10_000))
        if (closing) return
        try {
          await consumer.joinGroup({})
          return
        } catch (err) {
          log.warn({ err, attempt }, 'rejoining the group failed')
        }
      }
    } finally {
      rejoining = false
    }
  }

  consumer.on('consumer:group:join', onAssignment)
  consumer.on('consumer:group:rebalance', () => log.debug('rebalance in progress'))
  consumer.on('consumer:heartbeat:stalled', (payload) =>
    log.warn({ err: payload.lastError, stalledFor: payload.stalledFor }, 'heartbeats stalled'),
  )
  // Emitted when a rejoin after a failed heartbeat fails: heartbeats stop until we join again.
  consumer.on('error', (err: unknown) => {
    if (closing) return
    log.error({ err }, 'kafka consumer lost its group; rejoining')
    void rejoin()
  })

  try {
    await openStream()
  } catch (error) {
    closing = true
    await closeMember(consumer, log)
    throw error
  }

  let closed: Promise<void> | undefined
  return {
    assignments: () => [...owned.values()].map(({ topic, partition }) => ({ topic, partition })),
    waitingForDue: () => dispatcher.parked,
    close() {
      closed ??= (async () => {
        closing = true
        // Stop fetching, let work in flight finish (sleepers are aborted), commit it, then leave the group. The
        // stream is paused, not closed, until we leave: closing it unsubscribes its topics, and a rejoin meanwhile
        // would subscribe to nothing (as the group leader, it would even assign nothing to anyone).
        stream?.pause()
        await dispatcher.close()
        committer.stopRetrying()
        await committer.flush()
        await closeMember(consumer, log)
        // The library closes a member's streams only when it leaves with a member id: a member that lost it (its
        // session expired while a broker was down) and is rejoining leaves nothing, and its paused stream would keep
        // its own fetch connections to every broker open, holding the process alive after shutdown.
        await stream?.close().catch((err: unknown) => log.warn({ err }, 'closing the kafka consumer stream'))
      })()
      return closed
    },
  }
}

/**
 * Leaves the group and closes the member's connections. When the leave fails (the group's coordinator moved meanwhile,
 * say), the library stays open, with connections to every broker that would hold the process alive after shutdown:
 * it then closes without leaving, and the coordinator drops the member once its session times out.
 */
async function closeMember(consumer: StringConsumer, log: Logger): Promise<void> {
  try {
    await consumer.close(true)
  } catch (err) {
    log.warn({ err }, 'leaving the kafka group failed; closing without leaving')
    consumer.memberId = null
    await consumer.close(true).catch((err: unknown) => log.warn({ err }, 'closing the kafka consumer'))
  }
}

/** Committed offset of each partition, or its log start when the group has none (fallback: earliest). */
async function startOffsets(consumer: StringConsumer, parts: OwnedPartition[]): Promise<Map<string, bigint>> {
  const byTopic = new Map<string, number[]>()
  for (const p of parts) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition])
  const committed = await consumer.listCommittedOffsets({
    topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
  })
  const starts = new Map<string, bigint>()
  const missing = new Map<string, number[]>()
  for (const p of parts) {
    const offset = committed.get(p.topic)?.[p.partition]
    if (offset !== undefined && offset >= 0n) starts.set(p.key, offset)
    else missing.set(p.topic, [...(missing.get(p.topic) ?? []), p.partition])
  }
  if (missing.size > 0) {
    const earliest = await consumer.listOffsets({
      topics: [...missing.keys()],
      partitions: Object.fromEntries(missing),
      timestamp: ListOffsetTimestamps.EARLIEST,
    })
    for (const [topic, partitions] of missing) {
      for (const partition of partitions)
        starts.set(partitionKey(topic, partition), earliest.get(topic)?.[partition] ?? 0n)
    }
  }
  return starts
}

function toTransportRecord(message: StringMessage): TransportRecord {
  const headers: Record<string, string> = {}
  for (const [key, value] of message.headerEntries) headers[String(key)] = value ?? ''
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key ?? '',
    value: message.value ?? '',
    headers,
    timestamp: Number(message.timestamp),
  }
}
