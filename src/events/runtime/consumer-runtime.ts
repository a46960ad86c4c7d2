import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import type { Registry } from 'prom-client'
import { backoffMs } from '../../platform/backoff.ts'
import { Batcher, BatchFailed } from '../../platform/batcher.ts'
import type { Db } from '../../platform/db.ts'
import { describeError, isRetryable } from '../../platform/errors.ts'
import type { FanLoad } from '../../platform/fan-load.ts'
import type { Logger } from '../../platform/logger.ts'
import { sleepUntil, untilOrAborted } from '../../platform/sleep-until.ts'
import { TwoGenerations } from '../../platform/two-generations.ts'
import { type CloudEvent, parseEvent } from '../envelope.ts'
import type { EventType } from '../event-types.ts'
import { consumedTopics, DEFAULT_RETRY_DELAYS_MS } from '../topics.ts'
import type { ConsumerHandle, EventTransport, TransportRecord } from '../transport/port.ts'
import { insertDeadLetter } from './dead-letter-store.ts'
import type { EventHandler, ExternalHandler, TransactionHandler } from './handler.ts'
import {
  deadLetterRecord,
  firstFailure,
  notBefore,
  originOf,
  previousAttempts,
  retryGroupOf,
  retryRecord,
  stageOf,
} from './retry-policy.ts'
import { type GroupMetrics, RuntimeMetrics } from './runtime-metrics.ts'

export interface RuntimeOptions {
  db: Db
  transport: EventTransport
  logger: Logger
  registry: Registry
  immediateAttempts?: number
  immediateBackoffMs?: number
  retryDelaysMs?: readonly number[]
  /** The fans' operations in flight that handlers with `yieldsToFans` wait behind, and for how long at most. */
  fans?: { load: FanLoad; yieldMs: number } | undefined
}

/**
 * The events this process parsed and checked last, by record. The groups that read a topic fetch the same records at
 * about the same moment (a commit wakes them all), and each parsed and checked every event again: a payment's event
 * three times (only such topics' records are remembered). A hit needs the same bytes at the same place and the same
 * expected type; a record that fails is not remembered. The groups share the event, so it is frozen. Two generations
 * of at most `size` records each.
 */
export class RecentlyParsed {
  readonly #memory: TwoGenerations<string, { value: string; type: EventType; event: CloudEvent }>

  constructor(size = 1_024) {
    this.#memory = new TwoGenerations(size)
  }

  parse(record: TransportRecord, expectedType: EventType): CloudEvent {
    const key = `${record.topic}\0${record.partition}\0${Number(record.offset)}`
    const known = this.#memory.get(key)
    if (known && known.value === record.value && known.type === expectedType) return known.event
    const event = parseEvent(record.value, expectedType)
    Object.freeze(event.data)
    Object.freeze(event)
    this.#memory.set(key, { value: record.value, type: expectedType, event })
    return event
  }
}

/**
 * The consumer runtime every handler shares: validates the envelope, records the event id in the handler's own
 * transaction (a redelivery has no second effect), retries at once a few times, then moves the record to retry
 * topics with growing delays, then to the dead letters, so one bad record never holds up its partition.
 */
export class ConsumerRuntime {
  readonly #options: Required<Omit<RuntimeOptions, 'fans'>> & Pick<RuntimeOptions, 'fans'>
  readonly #handlers: EventHandler<any>[] = []
  readonly #consumers: ConsumerHandle[] = []
  readonly #metrics: RuntimeMetrics
  readonly #groupMetrics = new Map<EventHandler<any>, GroupMetrics>()
  readonly #batchers = new Map<EventHandler<any>, Batcher<Delivery, Outcome>>()
  readonly #parsed = new RecentlyParsed()
  /** How many of this runtime's groups read each topic: only a topic read by several has a parse worth sharing. */
  readonly #readers = new Map<EventType, number>()
  #joined: Promise<void> = Promise.resolve()
  #stopping: AbortController | undefined

  constructor(options: RuntimeOptions) {
    this.#options = {
      immediateAttempts: 3,
      immediateBackoffMs: 100,
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      ...options,
    }
    this.#metrics = new RuntimeMetrics(options.registry, options.fans?.load, () =>
      this.#consumers.map((c): [string, number] => [c.group, c.waitingForDue()]),
    )
  }

  register<T extends EventType>(handler: EventHandler<T>): void {
    this.#handlers.push(handler)
    this.#groupMetrics.set(handler, this.#metrics.forGroup({ group: handler.group, topic: handler.topic }))
    this.#readers.set(handler.topic, (this.#readers.get(handler.topic) ?? 0) + 1)
  }

  /**
   * Groups and the topics they read, for lag metrics, and whether they yield to the fans (see FanLoad): their events
   * wait, or only the fetching of them does (a delayed group's, handled when due all the same).
   */
  get subscriptions(): {
    group: string
    topics: string[]
    yieldsToFans: boolean
    fetchYieldsToFans: boolean
  }[] {
    const stages = this.#options.retryDelaysMs.length
    return this.#handlers.map((h) => ({
      group: h.group,
      topics: consumedTopics(h.topic, stages),
      yieldsToFans: h.yieldsToFans === true,
      fetchYieldsToFans: h.fetchYieldsToFans === true,
    }))
  }

  /**
   * Joins every group at once (on Kafka each join waits for a rebalance); resolves when all have joined. A group
   * that cannot join yet (the cluster is away) keeps trying until it does or the runtime stops.
   */
  start(): Promise<void> {
    this.#stopping = new AbortController()
    const signal = this.#stopping.signal
    this.#joined = Promise.all(
      this.#handlers.map(async (handler) => {
        for (let attempt = 0; !signal.aborted; attempt++) {
          try {
            const consumer = await this.#options.transport.consume({
              group: handler.group,
              topics: consumedTopics(handler.topic, this.#options.retryDelaysMs.length),
              keyConcurrency: handler.keyConcurrency ?? DEFAULT_KEY_CONCURRENCY,
              inKeyOrder: handler.inKeyOrder,
              handle: (record, signal) => this.#process(handler, record, signal),
              // Records that would wait for the fans are not fetched meanwhile.
              holdFetching: () => this.#fansTurn(handler, handler.fetchYieldsToFans),
              // A retry waits for its delay, a delayed event for its deadline, parked by the dispatcher.
              dueAt: (record) => this.#dueAt(handler, record),
            })
            if (signal.aborted) await consumer.close()
            else this.#consumers.push(consumer)
            return
          } catch (error) {
            this.#options.logger.error(
              { err: error, group: handler.group, attempt },
              'consumer group did not start',
            )
            await sleep(backoffMs(attempt, 500, 10_000), undefined, { signal }).catch(() => {})
          }
        }
      }),
    ).then(() => {})
    return this.#joined
  }

  /** Whether the groups that yield to the fans hold their events back now (see FanLoad). */
  get holdingBack(): boolean {
    const fans = this.#options.fans
    return fans?.load.holdsBack(fans.yieldMs) ?? false
  }

  /** The turn a yielding handler's records wait for now, while the fans keep the instance busy (see FanLoad). */
  #fansTurn(handler: EventHandler<any>, fetching = false): Promise<void> | undefined {
    const fans = this.#options.fans
    return (handler.yieldsToFans || fetching) && fans ? fans.load.turn(fans.yieldMs) : undefined
  }

  /**
   * When a record is due: a retry at its delay's end, a delayed handler's event just past its deadline. An event's
   * deadline is in milliseconds, the database's (now() + interval) in microseconds: one millisecond later it is past
   * both, so a hold or an offer is not refused as not yet due and retried a backoff later. An event that does not
   * parse is due at once (and dead-lettered then).
   */
  #dueAt(handler: EventHandler<any>, record: TransportRecord): number | undefined {
    const stage = stageOf(record, handler.topic)
    if (stage > 0) return retryGroupOf(record) === handler.group ? notBefore(record) : undefined
    if (!handler.deliverAt) return undefined
    try {
      const due = handler.deliverAt(this.#parse(handler, record, stage))
      return due ? due.getTime() + 1 : undefined
    } catch {
      return undefined
    }
  }

  /**
   * A record's event, shared with the other groups of this runtime that read it at about the same moment, and with
   * this group's own #dueAt. A retry record is its one group's; a topic of one group here would only pay for
   * remembering, unless the group is delayed: its due time is read when the record arrives, and again when it is due.
   */
  #parse(handler: EventHandler<any>, record: TransportRecord, stage: number): CloudEvent {
    return stage === 0 && (handler.deliverAt || this.#readers.get(handler.topic)! > 1)
      ? this.#parsed.parse(record, handler.topic)
      : parseEvent(record.value, handler.topic)
  }

  /** Resolves once every group has joined (or the runtime stopped). */
  get joined(): Promise<void> {
    return this.#joined
  }

  async stop(): Promise<void> {
    this.#stopping?.abort()
    await this.#joined
    await Promise.all(this.#consumers.splice(0).map((c) => c.close()))
  }

  async #process(handler: EventHandler<any>, record: TransportRecord, signal: AbortSignal): Promise<void> {
    const metrics = this.#groupMetrics.get(handler)!
    const stage = stageOf(record, handler.topic)
    if (stage > 0 && retryGroupOf(record) !== handler.group) {
      metrics.skipped()
      return
    }
    // The dispatcher handed the record over once due (#dueAt).
    let event: CloudEvent
    try {
      event = this.#parse(handler, record, stage)
    } catch (error) {
      await this.#deadLetter(handler, record, error, previousAttempts(record) + 1)
      return
    }

    const turn = this.#fansTurn(handler)
    if (turn) await untilOrAborted(turn, signal)

    let attempt = previousAttempts(record)
    let lastError: unknown
    let tries = 0
    // First with the other events in flight, in one transaction. A failed batch of several says nothing of this
    // event: it is then tried alone, and no attempt of its own is counted.
    {
      const started = performance.now()
      try {
        const outcome = await this.#batcher(handler).submit({ event, record, attempt: attempt + 1, signal })
        metrics.done(outcome, performance.now() - started, event.time)
        return
      } catch (error) {
        signal.throwIfAborted()
        if (!(error instanceof BatchFailed && error.size > 1)) {
          attempt++
          tries++
          lastError = error instanceof BatchFailed ? error.cause : error
          this.#logFailure(handler, event, attempt, lastError)
        }
      }
    }
    for (; tries < this.#options.immediateAttempts && (tries === 0 || isRetryable(lastError)); tries++) {
      if (tries > 0) {
        await sleepUntil(
          Date.now() + backoffMs(tries - 1, this.#options.immediateBackoffMs, Number.MAX_SAFE_INTEGER),
          signal,
        )
      }
      attempt++
      signal.throwIfAborted()
      const started = performance.now()
      try {
        const outcome = await this.#runOnce(handler, event, record, attempt, signal)
        metrics.done(outcome, performance.now() - started, event.time)
        return
      } catch (error) {
        signal.throwIfAborted()
        lastError = error
        this.#logFailure(handler, event, attempt, error)
      }
    }

    if (isRetryable(lastError) && stage < this.#options.retryDelaysMs.length) {
      await this.#options.transport.publish([
        retryRecord({
          eventTopic: handler.topic,
          group: handler.group,
          record,
          stage: stage + 1,
          attempts: attempt,
          delayMs: this.#options.retryDelaysMs[stage]!,
          error: lastError,
        }),
      ])
      this.#metrics.retried.inc({ group: handler.group, topic: handler.topic, stage: String(stage + 1) })
      return
    }
    await this.#deadLetter(handler, record, lastError, attempt, event)
  }

  #logFailure(handler: EventHandler<any>, event: CloudEvent, attempt: number, error: unknown): void {
    this.#options.logger.warn(
      { err: error, group: handler.group, eventId: event.id, attempt },
      'event handler failed',
    )
  }

  #batcher(handler: EventHandler<any>): Batcher<Delivery, Outcome> {
    let batcher = this.#batchers.get(handler)
    if (!batcher) {
      batcher =
        handler.mode === 'external'
          ? new Batcher((items) => this.#runExternalBatch(handler, items), MAX_BATCH)
          : new Batcher(
              (items) => this.#runTransactionBatch(handler, items),
              MAX_BATCH,
              TRANSACTION_BATCHES_IN_FLIGHT,
            )
      this.#batchers.set(handler, batcher)
    }
    return batcher
  }

  /** One transaction: the batch's new event ids recorded, and their effects; a replayed id has none. */
  async #runTransactionBatch(
    handler: TransactionHandler<any>,
    items: readonly Delivery[],
  ): Promise<PromiseSettledResult<Outcome>[]> {
    return this.#options.db.transaction().execute(async (tx) => {
      const ids = [...new Set(items.map((i) => i.event.id))]
      const inserted = await sql<{ event_id: string }>`
        insert into processed_events (group_id, event_id) select ${handler.group}, unnest(${ids}::text[])
        on conflict do nothing returning event_id`.execute(tx)
      const fresh = new Set(inserted.rows.map((r) => r.event_id))
      const outcomes = items.map((i): Outcome => {
        if (!fresh.has(i.event.id)) return 'duplicate'
        fresh.delete(i.event.id)
        return 'done'
      })
      const todo = items.filter((_, k) => outcomes[k] === 'done')
      if (todo.length > 0) {
        if (handler.handleBatch) {
          await handler.handleBatch(
            todo.map((i) => i.event),
            { tx, signal: todo[0]!.signal },
          )
        } else {
          for (const i of todo) {
            await handler.handle(i.event, {
              tx,
              eventId: i.event.id,
              attempt: i.attempt,
              record: i.record,
              signal: i.signal,
            })
          }
        }
      }
      return outcomes.map((value) => ({ status: 'fulfilled', value }) as const)
    })
  }

  /** The batch's seen ids in one read, each partner call on its own, the successful ids in one write. */
  async #runExternalBatch(
    handler: ExternalHandler<any>,
    items: readonly Delivery[],
  ): Promise<PromiseSettledResult<Outcome>[]> {
    const db = this.#options.db
    const ids = [...new Set(items.map((i) => i.event.id))]
    const seen = new Set(
      (
        await db
          .selectFrom('processed_events')
          .select('event_id')
          .where('group_id', '=', handler.group)
          .where('event_id', 'in', ids)
          .execute()
      ).map((r) => r.event_id),
    )
    const results = await Promise.allSettled(
      items.map(async (i): Promise<Outcome> => {
        if (seen.has(i.event.id)) return 'duplicate'
        await handler.handle(i.event, {
          db,
          eventId: i.event.id,
          attempt: i.attempt,
          record: i.record,
          signal: i.signal,
        })
        return 'done'
      }),
    )
    const done = [
      ...new Set(items.filter((_, k) => results[k]!.status === 'fulfilled').map((i) => i.event.id)),
    ]
    if (done.length > 0) {
      await sql`insert into processed_events (group_id, event_id) select ${handler.group}, unnest(${done}::text[])
        on conflict do nothing`.execute(db)
    }
    return results
  }

  async #runOnce(
    handler: EventHandler<any>,
    event: CloudEvent,
    record: TransportRecord,
    attempt: number,
    signal: AbortSignal,
  ): Promise<'done' | 'duplicate'> {
    const db = this.#options.db
    const eventId = event.id
    if (handler.mode === 'external') {
      const seen = await db
        .selectFrom('processed_events')
        .select('event_id')
        .where('group_id', '=', handler.group)
        .where('event_id', '=', eventId)
        .executeTakeFirst()
      if (seen) return 'duplicate'
      await handler.handle(event, { db, eventId, attempt, record, signal })
      await db
        .insertInto('processed_events')
        .values({ group_id: handler.group, event_id: eventId })
        .onConflict((oc) => oc.doNothing())
        .execute()
      return 'done'
    }
    return db.transaction().execute(async (tx) => {
      const fresh = await tx
        .insertInto('processed_events')
        .values({ group_id: handler.group, event_id: eventId })
        .onConflict((oc) => oc.doNothing())
        .returning('event_id')
        .executeTakeFirst()
      if (!fresh) return 'duplicate'
      await handler.handle(event, { tx, eventId, attempt, record, signal })
      return 'done'
    })
  }

  async #deadLetter(
    handler: EventHandler<any>,
    record: TransportRecord,
    error: unknown,
    attempts: number,
    event?: CloudEvent,
  ): Promise<void> {
    const now = Date.now()
    const first = firstFailure(record, now)
    // The store first (what operators list and replay), then the .dlq topic for other tools.
    await insertDeadLetter(this.#options.db, {
      group: handler.group,
      origin: originOf(record),
      key: record.key,
      value: record.value,
      error: describeError(error),
      attempts,
      firstFailedAt: new Date(first),
      lastFailedAt: new Date(now),
    })
    await this.#options.transport.publish([
      deadLetterRecord({
        eventTopic: handler.topic,
        group: handler.group,
        record,
        attempts,
        firstFailedAt: first,
        lastFailedAt: now,
        error,
      }),
    ])
    await handler.onDeadLetter?.(event, describeError(error), this.#options.db).catch((e: unknown) => {
      this.#options.logger.error({ err: e, group: handler.group }, 'onDeadLetter hook failed')
    })
    this.#metrics.deadLettered.inc({ group: handler.group, topic: handler.topic })
    this.#options.logger.error(
      { group: handler.group, topic: handler.topic, key: record.key, attempts, err: error },
      'event dead-lettered',
    )
  }
}

interface Delivery {
  event: CloudEvent
  record: TransportRecord
  attempt: number
  signal: AbortSignal
}

type Outcome = 'done' | 'duplicate'

/** Keys in flight per partition unless the handler says otherwise: the ceiling on a batch from one partition. */
const DEFAULT_KEY_CONCURRENCY = 256
/** Events per transaction at most. */
const MAX_BATCH = 500
/**
 * Transactions of one group in flight at once: the next batch is built and sent while the last one commits. Batches
 * of one group already run in parallel across instances (handlers write in key order for that), and one key is
 * never in two batches. One group's consumption on Kafka, alternated runs: 22,888 / 23,536 / 21,753 events/s with
 * one, 36,345 / 27,881 / 26,733 with two; payments and holds did not move beyond noise. Partner (external) batches
 * stay one at a time.
 */
const TRANSACTION_BATCHES_IN_FLIGHT = 2
