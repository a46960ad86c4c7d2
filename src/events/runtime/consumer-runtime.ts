import { setTimeout as sleep } from 'node:timers/promises'
import type { Registry } from 'prom-client'
import { backoffMs } from '../../platform/backoff.ts'
import type { Db } from '../../platform/db.ts'
import { describeError, isRetryable } from '../../platform/errors.ts'
import type { Logger } from '../../platform/logger.ts'
import { type CloudEvent, parseEvent } from '../envelope.ts'
import type { EventType } from '../event-types.ts'
import { consumedTopics, DEFAULT_RETRY_DELAYS_MS } from '../topics.ts'
import type { ConsumerHandle, EventTransport, TransportRecord } from '../transport/port.ts'
import { insertDeadLetter } from './dead-letter-store.ts'
import type { EventHandler } from './handler.ts'
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
import { RuntimeMetrics } from './runtime-metrics.ts'

export interface RuntimeOptions {
  db: Db
  transport: EventTransport
  logger: Logger
  registry: Registry
  immediateAttempts?: number
  immediateBackoffMs?: number
  retryDelaysMs?: readonly number[]
}

/**
 * The consumer runtime every handler shares: validates the envelope, records the event id in the handler's own
 * transaction (a redelivery has no second effect), retries at once a few times, then moves the record to retry
 * topics with growing delays, then to the dead letters, so one bad record never holds up its partition.
 */
export class ConsumerRuntime {
  readonly #options: Required<RuntimeOptions>
  readonly #handlers: EventHandler<any>[] = []
  readonly #consumers: ConsumerHandle[] = []
  readonly #metrics: RuntimeMetrics

  constructor(options: RuntimeOptions) {
    this.#options = {
      immediateAttempts: 3,
      immediateBackoffMs: 100,
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      ...options,
    }
    this.#metrics = new RuntimeMetrics(options.registry)
  }

  register<T extends EventType>(handler: EventHandler<T>): void {
    this.#handlers.push(handler)
  }

  /** Groups and the topics they read, for lag metrics. */
  get subscriptions(): { group: string; topics: string[] }[] {
    const stages = this.#options.retryDelaysMs.length
    return this.#handlers.map((h) => ({ group: h.group, topics: consumedTopics(h.topic, stages) }))
  }

  async start(): Promise<void> {
    for (const handler of this.#handlers) {
      const consumer = await this.#options.transport.consume({
        group: handler.group,
        topics: consumedTopics(handler.topic, this.#options.retryDelaysMs.length),
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
    const stage = stageOf(record, handler.topic)
    if (stage > 0 && retryGroupOf(record) !== handler.group) {
      this.#metrics.handled.inc({ ...labels, outcome: 'skipped' })
      return
    }
    if (stage > 0) await sleepUntil(notBefore(record), signal)

    let event: CloudEvent
    try {
      event = parseEvent(record.value, handler.topic)
    } catch (error) {
      await this.#deadLetter(handler, record, error, previousAttempts(record) + 1)
      return
    }
    const due = handler.deliverAt?.(event)
    if (due) await sleepUntil(due.getTime(), signal)

    let attempt = previousAttempts(record)
    let lastError: unknown
    for (let i = 0; i < this.#options.immediateAttempts; i++) {
      attempt++
      signal.throwIfAborted()
      const started = performance.now()
      try {
        const outcome = await this.#runOnce(handler, event, record, attempt, signal)
        this.#metrics.done(labels, outcome, performance.now() - started, event.time)
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
          await sleep(backoffMs(i, this.#options.immediateBackoffMs, Number.MAX_SAFE_INTEGER), undefined, {
            signal,
          })
        }
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
      this.#metrics.retried.inc({ ...labels, stage: String(stage + 1) })
      return
    }
    await this.#deadLetter(handler, record, lastError, attempt, event)
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

async function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  // Timers can fire a millisecond early against Date.now(): sleep again until the time has really come.
  for (let wait = at - Date.now(); wait > 0; wait = at - Date.now()) await sleep(wait, undefined, { signal })
}
