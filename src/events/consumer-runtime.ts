import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { Counter, Histogram, type Registry } from 'prom-client'
import { v7 as uuidv7 } from 'uuid'
import type { Db, Tx } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import type { EventType } from './catalog.ts'
import { assertEventData, type CloudEvent, EventSchemaError } from './envelope.ts'
import { describeError, isRetryable, NonRetryableError } from './errors.ts'
import { consumedTopics, deadLetterTopic, RETRY_DELAYS_MS, retryTopic } from './topics.ts'
import type { ConsumerHandle, EventTransport, TransportRecord } from './transport.ts'

export interface HandlerContext {
  /**
   * Transaction mode: the transaction the event id is recorded in; write effects here and they happen once.
   * External mode: the database without a transaction (no connection is held while a partner is called).
   */
  readonly tx: Tx | Db
  /** Use as the idempotency key of any external call. */
  readonly eventId: string
  /** 1-based count of tries so far, over immediate retries and retry topics. */
  readonly attempt: number
  readonly record: TransportRecord
  readonly signal: AbortSignal
}

export interface EventHandler<T extends EventType = EventType> {
  /** Consumer group; one group per side effect. */
  readonly group: string
  readonly topic: T
  handle(event: CloudEvent<T>, context: HandlerContext): Promise<void>
  /** Hold the event until this time (delayed work such as hold expiration). */
  deliverAt?(event: CloudEvent<T>): Date | undefined
  keyConcurrency?: number
  /**
   * `transaction` (default): effects in the database, exactly once with the event id.
   * `external`: a call to a partner that deduplicates by `eventId`; the event id is recorded after it succeeded.
   */
  mode?: 'transaction' | 'external'
  /** Called once when the event is dead-lettered (for example to mark a delivery failed). */
  onDeadLetter?(event: CloudEvent<T> | undefined, error: string, db: Db): Promise<void>
}

export interface RuntimeOptions {
  db: Db
  transport: EventTransport
  logger: Logger
  registry: Registry
  immediateAttempts?: number
  immediateBackoffMs?: number
  retryDelaysMs?: readonly number[]
}

const H = {
  attempts: 'x-attempts',
  group: 'x-retry-group',
  notBefore: 'x-not-before',
  firstFailure: 'x-first-failure',
  lastFailure: 'x-last-failure',
  error: 'x-error',
  originalTopic: 'x-original-topic',
  originalPartition: 'x-original-partition',
  originalOffset: 'x-original-offset',
} as const

/**
 * The consumer runtime every handler shares: validates the envelope, records the event id in the handler's own
 * transaction (a redelivery has no second effect), retries at once a few times, then moves the record to retry
 * topics with growing delays, then to the dead letters, so one bad record never holds up its partition.
 */
export class ConsumerRuntime {
  readonly #options: Required<RuntimeOptions>
  readonly #handlers: EventHandler<any>[] = []
  readonly #consumers: ConsumerHandle[] = []
  readonly #handled: Counter<'group' | 'topic' | 'outcome'>
  readonly #retried: Counter<'group' | 'topic' | 'stage'>
  readonly #dead: Counter<'group' | 'topic'>
  readonly #duration: Histogram<'group' | 'topic'>
  readonly #latency: Histogram<'group' | 'topic'>

  constructor(options: RuntimeOptions) {
    this.#options = {
      immediateAttempts: 3,
      immediateBackoffMs: 100,
      retryDelaysMs: RETRY_DELAYS_MS,
      ...options,
    }
    const registers = [options.registry]
    this.#handled = new Counter({
      name: 'events_handled_total',
      help: 'Events handled by consumer group (outcome: done, duplicate, skipped)',
      labelNames: ['group', 'topic', 'outcome'],
      registers,
    })
    this.#retried = new Counter({
      name: 'events_retried_total',
      help: 'Events moved to a retry topic',
      labelNames: ['group', 'topic', 'stage'],
      registers,
    })
    this.#dead = new Counter({
      name: 'events_dead_lettered_total',
      help: 'Events moved to the dead letters',
      labelNames: ['group', 'topic'],
      registers,
    })
    this.#duration = new Histogram({
      name: 'event_handler_duration_seconds',
      help: 'Handler latency per group',
      labelNames: ['group', 'topic'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    this.#latency = new Histogram({
      name: 'event_end_to_end_seconds',
      help: 'From the event time (commit of its cause) to the end of its handling',
      labelNames: ['group', 'topic'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers,
    })
  }

  register<T extends EventType>(handler: EventHandler<T>): void {
    this.#handlers.push(handler)
  }

  /** Groups and the topics they read, for lag metrics. */
  get subscriptions(): { group: string; topics: string[] }[] {
    return this.#handlers.map((h) => ({ group: h.group, topics: consumedTopics(h.topic) }))
  }

  async start(): Promise<void> {
    for (const handler of this.#handlers) {
      const consumer = await this.#options.transport.consume({
        group: handler.group,
        topics: consumedTopics(handler.topic),
        keyConcurrency: handler.keyConcurrency ?? 16,
        handle: (record, signal) => this.#process(handler, record, signal),
      })
      this.#consumers.push(consumer)
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#consumers.splice(0).map((c) => c.close()))
  }

  async #process(handler: EventHandler<any>, record: TransportRecord, signal: AbortSignal): Promise<void> {
    const labels = { group: handler.group, topic: handler.topic }
    const isRetry = record.topic !== handler.topic
    if (isRetry && record.headers[H.group] !== handler.group) {
      this.#handled.inc({ ...labels, outcome: 'skipped' })
      return
    }
    if (isRetry) await sleepUntil(Number(record.headers[H.notBefore] ?? 0), signal)
    const previousAttempts = Number(record.headers[H.attempts] ?? 0)

    let event: CloudEvent
    try {
      event = parseEvent(record.value, handler.topic)
    } catch (error) {
      await this.#deadLetter(handler, record, error, previousAttempts + 1)
      return
    }
    const due = handler.deliverAt?.(event)
    if (due) await sleepUntil(due.getTime(), signal)

    let attempt = previousAttempts
    let lastError: unknown
    for (let i = 0; i < this.#options.immediateAttempts; i++) {
      attempt++
      signal.throwIfAborted()
      const started = performance.now()
      try {
        const outcome = await this.#runOnce(handler, event, record, attempt, signal)
        this.#duration.observe(labels, (performance.now() - started) / 1000)
        this.#handled.inc({ ...labels, outcome })
        this.#latency.observe(labels, Math.max(0, Date.now() - Date.parse(event.time)) / 1000)
        return
      } catch (error) {
        signal.throwIfAborted()
        lastError = error
        this.#options.logger.warn(
          { err: error, group: handler.group, eventId: event.id, attempt },
          'event handler failed',
        )
        if (!isRetryable(error)) break
        if (i + 1 < this.#options.immediateAttempts) {
          await sleep(this.#options.immediateBackoffMs * 2 ** i, undefined, { signal })
        }
      }
    }

    const stage = isRetry ? Number(record.topic.slice(record.topic.lastIndexOf('.') + 1)) : 0
    if (isRetryable(lastError) && stage < this.#options.retryDelaysMs.length) {
      const next = stage + 1
      const now = Date.now()
      await this.#options.transport.publish([
        {
          topic: retryTopic(handler.topic, next),
          key: record.key,
          value: record.value,
          headers: {
            ...originHeaders(record),
            [H.group]: handler.group,
            [H.attempts]: String(attempt),
            [H.notBefore]: String(now + this.#options.retryDelaysMs[stage]!),
            [H.firstFailure]: record.headers[H.firstFailure] ?? String(now),
            [H.lastFailure]: String(now),
            [H.error]: describeError(lastError),
          },
        },
      ])
      this.#retried.inc({ ...labels, stage: String(next) })
      return
    }
    await this.#deadLetter(handler, record, lastError, attempt)
  }

  async #runOnce(
    handler: EventHandler<any>,
    event: CloudEvent,
    record: TransportRecord,
    attempt: number,
    signal: AbortSignal,
  ): Promise<'done' | 'duplicate'> {
    const db = this.#options.db
    if (handler.mode === 'external') {
      const seen = await db
        .selectFrom('processed_events')
        .select('event_id')
        .where('group_id', '=', handler.group)
        .where('event_id', '=', event.id)
        .executeTakeFirst()
      if (seen) return 'duplicate'
      await handler.handle(event, { tx: db, eventId: event.id, attempt, record, signal })
      await db
        .insertInto('processed_events')
        .values({ group_id: handler.group, event_id: event.id })
        .onConflict((oc) => oc.doNothing())
        .execute()
      return 'done'
    }
    return db.transaction().execute(async (tx) => {
      const fresh = await tx
        .insertInto('processed_events')
        .values({ group_id: handler.group, event_id: event.id })
        .onConflict((oc) => oc.doNothing())
        .returning('event_id')
        .executeTakeFirst()
      if (!fresh) return 'duplicate'
      await handler.handle(event, { tx, eventId: event.id, attempt, record, signal })
      return 'done'
    })
  }

  async #deadLetter(handler: EventHandler<any>, record: TransportRecord, error: unknown, attempts: number) {
    const origin = originHeaders(record)
    const now = Date.now()
    const first = Number(record.headers[H.firstFailure] ?? now)
    let eventId: string | null = null
    let eventType: string | null = null
    let event: CloudEvent | undefined
    try {
      const parsed = JSON.parse(record.value) as { id?: unknown; type?: unknown }
      if (typeof parsed.id === 'string') eventId = parsed.id
      if (typeof parsed.type === 'string') eventType = parsed.type
      event = parseEvent(record.value, handler.topic)
    } catch {
      // the value itself is the poison; keep it as it came
    }
    // The store first (what operators list and replay), then the .dlq topic for other tools.
    await sql`
      insert into dead_letters (id, group_id, original_topic, original_partition, original_offset, key, event_id,
        event_type, value, error, attempts, first_failed_at, last_failed_at)
      values (${uuidv7()}, ${handler.group}, ${origin[H.originalTopic]}, ${Number(origin[H.originalPartition])},
        ${origin[H.originalOffset]}, ${record.key}, ${eventId}, ${eventType}, ${record.value}, ${describeError(error)},
        ${attempts}, ${new Date(first)}, ${new Date(now)})
      on conflict (group_id, original_topic, original_partition, original_offset) where status = 'dead'
      do update set error = excluded.error, attempts = excluded.attempts, last_failed_at = excluded.last_failed_at`.execute(
      this.#options.db,
    )
    await this.#options.transport.publish([
      {
        topic: deadLetterTopic(handler.topic),
        key: record.key,
        value: record.value,
        headers: {
          ...origin,
          [H.group]: handler.group,
          [H.attempts]: String(attempts),
          [H.firstFailure]: String(first),
          [H.lastFailure]: String(now),
          [H.error]: describeError(error),
        },
      },
    ])
    await handler.onDeadLetter?.(event, describeError(error), this.#options.db).catch((e: unknown) => {
      this.#options.logger.error({ err: e, group: handler.group }, 'onDeadLetter hook failed')
    })
    this.#dead.inc({ group: handler.group, topic: handler.topic })
    this.#options.logger.error(
      { group: handler.group, topic: handler.topic, key: record.key, attempts, err: error },
      'event dead-lettered',
    )
  }
}

function originHeaders(record: TransportRecord): Record<string, string> {
  return {
    [H.originalTopic]: record.headers[H.originalTopic] ?? record.topic,
    [H.originalPartition]: record.headers[H.originalPartition] ?? String(record.partition),
    [H.originalOffset]: record.headers[H.originalOffset] ?? record.offset.toString(),
  }
}

/** Parses and validates a CloudEvents envelope of the expected type; throws a non-retryable error otherwise. */
export function parseEvent(value: string, expectedType: EventType): CloudEvent {
  let parsed: CloudEvent
  try {
    parsed = JSON.parse(value) as CloudEvent
  } catch {
    throw new NonRetryableError('The record is not JSON')
  }
  if (parsed?.specversion !== '1.0' || typeof parsed.id !== 'string' || typeof parsed.time !== 'string') {
    throw new NonRetryableError('The record is not a CloudEvents 1.0 envelope')
  }
  if (parsed.type !== expectedType)
    throw new NonRetryableError(`Expected ${expectedType}, got ${String(parsed.type)}`)
  try {
    assertEventData(parsed.type, parsed.data)
  } catch (error) {
    if (error instanceof EventSchemaError) throw new NonRetryableError(error.message)
    throw error
  }
  return parsed
}

async function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  // Timers can fire a millisecond early against Date.now(): sleep again until the time has really come.
  for (let wait = at - Date.now(); wait > 0; wait = at - Date.now()) await sleep(wait, undefined, { signal })
}
