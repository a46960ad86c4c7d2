import { setTimeout as sleep } from 'node:timers/promises'
import { type CommitOptionsPartition, findErrorBy, offsetCommitV8 } from '@platformatic/kafka'
import type { Logger } from '../../../platform/logger.ts'
import { partitionKey, type StringConsumer } from './consumer.ts'

// Uses @platformatic/kafka internals (offsetCommitV8.api, consumer.connections, currentMetadata): pinned to 2.12.x.

/**
 * At most one commit request per group this often while records keep coming. Against 100 ms, alternated four times each
 * in `payments --transports=kafka`: the brokers' CPU per payment 0.108-0.118 ms against 0.132-0.170, per free-seat hold
 * 0.084-0.116 against 0.108-0.128, and payments 50-56 % of pgbench against 42-48 %. It costs nothing in delivery: a
 * group that crashed reads again at most this much of what it had handled, and skips it by its idempotency records
 * (a rebalance or a stop commits at once).
 */
export const COMMIT_INTERVAL_MS = 500

/**
 * Commits offsets one request at a time, each carrying the newest offset of every partition queued meanwhile, and
 * at most one request per COMMIT_INTERVAL_MS while records keep coming: each commit is a replicated write on the group
 * coordinator, and a busy group committing back to back made the brokers' largest share of work. A flush (revoke,
 * close) sends at once. A failed commit is logged; its offsets are retried while the partition is still ours (after a
 * rebalance the new owner starts from the last commit that landed, and handlers are idempotent).
 */
export class OffsetCommitter {
  readonly #consumer: StringConsumer
  readonly #log: Logger
  readonly #retryable: (key: string) => boolean
  readonly #queued = new Map<string, CommitOptionsPartition>()
  readonly #waiters: { round: number; resolve: () => void }[] = []
  #running = false
  #started = 0
  #finished = 0
  #retry = true
  /** Ends the wait between two commits early (a flush). */
  #hurry: (() => void) | undefined

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
    const flushed = new Promise<void>((resolve) => this.#waiters.push({ round, resolve }))
    this.#hurry?.()
    return flushed
  }

  stopRetrying(): void {
    this.#retry = false
  }

  async #run(): Promise<void> {
    this.#running = true
    try {
      while (this.#queued.size > 0) {
        const sentAt = performance.now()
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
          const passing = passingRefusal(err)
          if (rebalancing || passing) {
            // Expected while a group rebalances or its coordinator moves (a broker stopped): one short line.
            this.#log.info(
              { reason: passing ?? (err as Error).message, partitions: offsets.length },
              'offset commit refused; tried again',
            )
          } else {
            this.#log.warn({ err, partitions: offsets.length }, 'offset commit refused')
          }
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
        else await this.#pause(sentAt + COMMIT_INTERVAL_MS - performance.now())
      }
    } finally {
      this.#running = false
      for (const waiter of this.#waiters.splice(0)) waiter.resolve()
    }
  }

  /** Waits up to `ms` (while nothing asks for a flush), so the next request carries what came meanwhile. */
  async #pause(ms: number): Promise<void> {
    if (ms <= 0 || this.#waiters.length > 0) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#hurry = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    this.#hurry = undefined
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

export class NotInGroupError extends Error {
  constructor() {
    super('Not a member of a stable group generation (rebalancing)')
  }
}

/**
 * The broker's error names when every partition of a refused commit failed with an error the protocol says passes
 * with a retry (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, …), else undefined.
 */
export function passingRefusal(err: unknown): string | undefined {
  const inner = (err as { errors?: unknown[] }).errors
  if (!Array.isArray(inner) || inner.length === 0) return undefined
  const names = new Set<string>()
  for (const e of inner as { canRetry?: boolean; apiId?: string }[]) {
    if (e?.canRetry !== true || !e.apiId) return undefined
    names.add(e.apiId)
  }
  return [...names].join(', ')
}
