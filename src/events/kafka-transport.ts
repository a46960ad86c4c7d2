import { setTimeout as sleep } from 'node:timers/promises'
import {
  Admin,
  type CommitOptionsPartition,
  Consumer,
  compatibilityPartitioner,
  findErrorBy,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  offsetCommitV8,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import type { Logger } from '../platform/logger.ts'
import { PartitionDispatcher } from './partition-dispatcher.ts'
import type {
  ConsumerHandle,
  ConsumerSpec,
  EventTransport,
  LagEntry,
  OutgoingRecord,
  TopicSpec,
  TransportRecord,
} from './transport.ts'

export interface KafkaTransportOptions {
  brokers: string[]
  clientId: string
  logger: Logger
  /**
   * Group membership. Heartbeats run on their own timer, whatever the handlers do, so a handler may take longer
   * than the session; the session only bounds how long a dead member keeps its partitions.
   */
  sessionTimeoutMs?: number
  heartbeatIntervalMs?: number
  rebalanceTimeoutMs?: number
  /** Records buffered or running per consumer before fetching pauses. */
  maxBuffered?: number
}

type StringConsumer = Consumer<string, string, string, string>
type StringStream = MessagesStream<string, string, string, string>
type StringMessage = Message<string, string, string, string>

/**
 * Apache Kafka behind the transport port, through @platformatic/kafka: an idempotent producer (acks=all) that sends
 * each batch in one call, and per consumer group one Consumer whose stream feeds a PartitionDispatcher; offsets are
 * committed only for the contiguous prefix of handled records.
 */
export function createKafkaTransport(options: KafkaTransportOptions): EventTransport {
  const log = options.logger
  const base = { clientId: options.clientId, bootstrapBrokers: options.brokers }
  const producer = new Producer<string, string, string, string>({
    ...base,
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    // Bounded, so a batch fails (and the relay retries it) rather than hanging while the cluster is away.
    retries: 12,
    retryDelay: 500,
    // Kafka's Java default partitioner (murmur2 & 0x7fffffff, modulo partitions): the same as `partitionFor`.
    partitioner: compatibilityPartitioner,
  })
  const admin = new Admin({ ...base, retries: 5, retryDelay: 500 })
  for (const client of [producer, admin])
    client.on('error', (err: unknown) => log.error({ err }, 'kafka client'))
  const consumers = new Set<ConsumerHandle>()

  return {
    kind: 'kafka',

    async ensureTopics(specs: readonly TopicSpec[]) {
      if (specs.length === 0) return
      const existing = new Set(await admin.listTopics())
      // One CreateTopics call per settings: the request carries one config list for all its topics.
      const bySettings = new Map<string, TopicSpec[]>()
      for (const spec of specs) {
        if (existing.has(spec.name)) continue
        const id = `${spec.partitions}/${spec.replicationFactor}/${spec.minInsyncReplicas}/${spec.retentionMs}`
        bySettings.set(id, [...(bySettings.get(id) ?? []), spec])
      }
      for (const group of bySettings.values()) {
        const first = group[0]!
        try {
          await admin.createTopics({
            topics: group.map((s) => s.name),
            partitions: first.partitions,
            replicas: first.replicationFactor,
            configs: [
              { name: 'min.insync.replicas', value: String(first.minInsyncReplicas) },
              { name: 'retention.ms', value: String(first.retentionMs) },
            ],
          })
          log.info({ topics: group.map((s) => s.name) }, 'created topics')
        } catch (error) {
          if (!leafErrors(error).every((e) => e.apiId === 'TOPIC_ALREADY_EXISTS')) throw error
        }
      }
      await waitForLeaders(admin, specs, log)
    },

    async publish(records: readonly OutgoingRecord[]) {
      if (records.length === 0) return
      // One send: the library groups by leader and sends one request per broker, in array order per partition.
      await producer.send({
        messages: records.map((r) => ({ topic: r.topic, key: r.key, value: r.value, headers: r.headers })),
      })
    },

    async consume(spec: ConsumerSpec) {
      const consumer = await startConsumer(spec, options)
      const handle: ConsumerHandle = {
        group: spec.group,
        assignments: () => consumer.assignments(),
        async close() {
          consumers.delete(handle)
          await consumer.close()
        },
      }
      consumers.add(handle)
      return handle
    },

    async lag(groups) {
      const wanted = groups.filter((g) => g.topics.length > 0)
      if (wanted.length === 0) return []
      const topics = [...new Set(wanted.flatMap((g) => g.topics))]
      const metadata = await admin.metadata({ topics })
      const partitionsOf = (topic: string) =>
        Array.from({ length: metadata.topics.get(topic)?.partitionsCount ?? 0 }, (_, i) => i)
      const ends = new Map<string, bigint>()
      const listed = await admin.listOffsets({
        topics: topics.map((name) => ({
          name,
          partitions: partitionsOf(name).map((partitionIndex) => ({
            partitionIndex,
            timestamp: ListOffsetTimestamps.LATEST,
          })),
        })),
      })
      for (const t of listed)
        for (const p of t.partitions) ends.set(`${t.name}:${p.partitionIndex}`, p.offset)
      const committed = new Map<string, bigint>()
      const offsets = await admin.listConsumerGroupOffsets({
        groups: wanted.map((g) => ({
          groupId: g.group,
          topics: g.topics.map((name) => ({ name, partitionIndexes: partitionsOf(name) })),
        })),
      })
      for (const g of offsets) {
        for (const t of g.topics) {
          for (const p of t.partitions)
            committed.set(`${g.groupId}\u0000${t.name}:${p.partitionIndex}`, p.committedOffset)
        }
      }
      const out: LagEntry[] = []
      for (const g of wanted) {
        for (const topic of g.topics) {
          for (const partition of partitionsOf(topic)) {
            const end = ends.get(`${topic}:${partition}`) ?? 0n
            const raw = committed.get(`${g.group}\u0000${topic}:${partition}`) ?? -1n
            const at = raw < 0n ? 0n : raw
            out.push({ group: g.group, topic, partition, committed: at, end, lag: end > at ? end - at : 0n })
          }
        }
      }
      return out
    },

    async close() {
      await Promise.all([...consumers].map((c) => c.close()))
      consumers.clear()
      await producer.close(true).catch((err: unknown) => log.warn({ err }, 'closing kafka producer'))
      await admin.close().catch((err: unknown) => log.warn({ err }, 'closing kafka admin'))
    },
  }
}

/** Waits until every topic has its partitions with an elected leader, so the first publish does not fail. */
async function waitForLeaders(admin: Admin, specs: readonly TopicSpec[], log: Logger): Promise<void> {
  const names = specs.map((s) => s.name)
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      const metadata = await admin.metadata({ topics: names, forceUpdate: true })
      const pending = specs.filter((spec) => {
        const topic = metadata.topics.get(spec.name)
        return !topic || topic.partitions.some((p) => p === undefined || p.leader < 0)
      })
      if (pending.length === 0) {
        for (const spec of specs) {
          const partitions = metadata.topics.get(spec.name)?.partitionsCount ?? 0
          if (partitions !== spec.partitions) {
            log.warn(
              { topic: spec.name, partitions, declared: spec.partitions },
              'topic differs from its declaration',
            )
          }
        }
        return
      }
      if (Date.now() > deadline) throw new Error(`No leader yet for ${pending.map((s) => s.name).join(', ')}`)
    } catch (error) {
      if (Date.now() > deadline) throw error
    }
    await sleep(200)
  }
}

function leafErrors(error: unknown): { apiId?: string }[] {
  const nested = (error as { errors?: unknown[] } | null)?.errors
  if (Array.isArray(nested) && nested.length > 0) return nested.flatMap(leafErrors)
  return [(error ?? {}) as { apiId?: string }]
}

interface RunningConsumer {
  assignments(): { topic: string; partition: number }[]
  close(): Promise<void>
}

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
}

const partitionKey = (topic: string, partition: number) => `${topic}:${partition}`

async function startConsumer(spec: ConsumerSpec, options: KafkaTransportOptions): Promise<RunningConsumer> {
  const log = options.logger.child({ group: spec.group })
  const maxBuffered = options.maxBuffered ?? 20_000
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000
  const consumer: StringConsumer = new Consumer({
    clientId: options.clientId,
    bootstrapBrokers: options.brokers,
    groupId: spec.group,
    deserializers: stringDeserializers,
    autocommit: false,
    sessionTimeout,
    rebalanceTimeout: Math.max(options.rebalanceTimeoutMs ?? 60_000, sessionTimeout),
    heartbeatInterval: Math.min(options.heartbeatIntervalMs ?? 3_000, Math.floor(sessionTimeout / 3)),
    // Short polls bound how late a fetch started before a rebalance can answer.
    maxWaitTime: 500,
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
  let paused = false
  let fetches = 0
  let batch: TransportRecord[] = []

  const committer = new OffsetCommitter(consumer, log, (key) => owned.has(key) && !closing)
  const dispatcher = new PartitionDispatcher({
    handle: spec.handle,
    keyConcurrency: spec.keyConcurrency ?? 16,
    onError: (err, record) =>
      log.error({ err, topic: record.topic, partition: record.partition }, 'consumer'),
    async commit(topic, partition, nextOffset) {
      // Queued, not awaited: commits are coalesced into one request at a time; revoke and close flush them.
      committer.enqueue({
        topic,
        partition,
        offset: nextOffset,
        leaderEpoch: epochFor(topic, partition, nextOffset),
      })
      resumeIfDrained()
    },
  })

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
    // Not ours (a fetch answered after a rebalance) or start unknown yet: dropped, fetched again later.
    if (!p || p.next === undefined || message.offset < p.next) return
    if (message.offset > p.next && !acceptHole(p, message.offset)) return
    p.gap = undefined
    p.next = message.offset + 1n
    if (p.epochs.at(-1)?.epoch !== message.leaderEpoch)
      p.epochs.push({ from: message.offset, epoch: message.leaderEpoch })
    if (batch.length === 0) queueMicrotask(flushBatch)
    batch.push(toTransportRecord(message))
  }

  function flushBatch(): void {
    const records = batch
    batch = []
    if (closing) return
    dispatcher.push(records)
    if (!paused && dispatcher.pending > maxBuffered) {
      paused = true
      stream?.pause()
      log.debug({ pending: dispatcher.pending }, 'fetching paused')
    }
  }

  function resumeIfDrained(): void {
    if (paused && !closing && dispatcher.pending <= maxBuffered / 2) {
      paused = false
      stream?.resume()
      log.debug({ pending: dispatcher.pending }, 'fetching resumed')
    }
  }

  /** Compares the new assignment with what we own: revokes what moved away, opens what arrived. */
  function onAssignment(): void {
    const current = new Map<string, { topic: string; partition: number }>()
    for (const a of consumer.assignments ?? []) {
      for (const partition of a.partitions)
        current.set(partitionKey(a.topic, partition), { topic: a.topic, partition })
    }
    const lost = [...owned.values()].filter((p) => !current.has(p.key))
    for (const p of lost) owned.delete(p.key)
    const gained: OwnedPartition[] = []
    for (const [key, { topic, partition }] of current) {
      if (owned.has(key)) continue
      const p: OwnedPartition = { topic, partition, key, next: undefined, epochs: [], gap: undefined }
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
        .finally(resumeIfDrained)
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
          // Records that arrived while the partition was closed were dropped: fetch from the start again.
          seek(p)
        }
        return
      } catch (err) {
        if (closing) return
        log.warn({ err, attempt }, 'reading committed offsets failed; retrying')
        await sleep(Math.min(5_000, 250 * 2 ** attempt))
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
    if (paused) s.pause()
    // The stream starts at the committed offsets; partitions we already fed continue from where we are.
    for (const p of owned.values()) seek(p)
  }

  async function reopenStream(): Promise<void> {
    for (let attempt = 0; !closing; attempt++) {
      await sleep(Math.min(10_000, 500 * 2 ** attempt))
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
        await sleep(Math.min(10_000, 500 * 2 ** attempt))
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
    await consumer.close(true).catch(() => {})
    throw error
  }

  let closed: Promise<void> | undefined
  return {
    assignments: () => [...owned.values()].map(({ topic, partition }) => ({ topic, partition })),
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
        await consumer.close(true).catch((err: unknown) => log.warn({ err }, 'closing the kafka consumer'))
      })()
      return closed
    },
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

/**
 * Commits offsets one request at a time, each carrying the newest offset of every partition queued meanwhile.
 * A failed commit is logged; its offsets are retried while the partition is still ours (after a rebalance the new
 * owner starts from the last commit that landed, and handlers are idempotent).
 */
class OffsetCommitter {
  readonly #consumer: StringConsumer
  readonly #log: Logger
  readonly #retryable: (key: string) => boolean
  readonly #queued = new Map<string, CommitOptionsPartition>()
  readonly #waiters: { round: number; resolve: () => void }[] = []
  #running = false
  #started = 0
  #finished = 0
  #retry = true

  constructor(consumer: StringConsumer, log: Logger, retryable: (key: string) => boolean) {
    this.#consumer = consumer
    this.#log = log
    this.#retryable = retryable
  }

  enqueue(offset: CommitOptionsPartition): void {
    const key = partitionKey(offset.topic, offset.partition)
    const queued = this.#queued.get(key)
    if (!queued || queued.offset < offset.offset) this.#queued.set(key, offset)
    if (!this.#running) void this.#run()
  }

  /** Resolves once everything queued before the call has been tried. */
  flush(): Promise<void> {
    if (!this.#running && this.#queued.size === 0) return Promise.resolve()
    const round = this.#queued.size > 0 ? this.#started + 1 : this.#started
    return new Promise((resolve) => this.#waiters.push({ round, resolve }))
  }

  stopRetrying(): void {
    this.#retry = false
  }

  async #run(): Promise<void> {
    this.#running = true
    try {
      while (this.#queued.size > 0) {
        const offsets = [...this.#queued.values()]
        this.#queued.clear()
        this.#started++
        let failed = false
        try {
          await this.#send(offsets)
        } catch (err) {
          failed = true
          // A generation change refuses the commit: the next owner starts from the last commit that landed.
          const rebalancing = err instanceof NotInGroupError || findErrorBy(err as Error, 'needsRejoin', true)
          const level = rebalancing ? 'info' : 'warn'
          this.#log[level]({ err, partitions: offsets.length }, 'offset commit refused')
          for (const o of offsets) {
            const key = partitionKey(o.topic, o.partition)
            const newer = this.#queued.get(key)
            if (this.#retry && this.#retryable(key) && (!newer || newer.offset < o.offset))
              this.#queued.set(key, o)
          }
        }
        this.#finished++
        for (let i = this.#waiters.length - 1; i >= 0; i--) {
          if (this.#waiters[i]!.round <= this.#finished) this.#waiters.splice(i, 1)[0]!.resolve()
        }
        if (failed && this.#queued.size > 0) await sleep(500)
      }
    } finally {
      this.#running = false
      for (const waiter of this.#waiters.splice(0)) waiter.resolve()
    }
  }

  /**
   * OffsetCommit sent as is. The client's own commit() rejoins the group when the generation changed, and a rejoin
   * by the group leader starts yet another rebalance, which the next racing commit repeats: a rebalance storm.
   */
  async #send(offsets: CommitOptionsPartition[]): Promise<void> {
    const consumer = this.#consumer
    // Not gated on isActive(): while a rebalance is being prepared the coordinator still takes commits of the
    // current generation, and those are the ones that spare the next owner a redelivery.
    const memberId = consumer.memberId
    const generation = consumer.generationId
    if (consumer.closed || !memberId || generation <= 0) throw new NotInGroupError()
    const coordinator = await consumer.findGroupCoordinator()
    let broker = consumer.currentMetadata?.brokers.get(coordinator)
    broker ??= (await consumer.metadata({ topics: consumer.topics.current })).brokers.get(coordinator)
    if (!broker) throw new Error(`Group coordinator ${coordinator} is not in the cluster metadata`)
    const connection = await consumer.connections.get(broker)
    const topics = new Map<string, offsetCommitV8.OffsetCommitRequestTopic>()
    for (const o of offsets) {
      let topic = topics.get(o.topic)
      if (!topic) {
        topic = { name: o.topic, partitions: [] }
        topics.set(o.topic, topic)
      }
      topic.partitions.push({
        partitionIndex: o.partition,
        committedOffset: o.offset,
        committedLeaderEpoch: o.leaderEpoch,
        committedMetadata: null,
      })
    }
    await offsetCommitV8.api.async(
      connection,
      consumer.groupId,
      generation,
      memberId,
      consumer.groupInstanceId,
      [...topics.values()],
    )
  }
}

class NotInGroupError extends Error {
  constructor() {
    super('Not a member of a stable group generation (rebalancing)')
  }
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
