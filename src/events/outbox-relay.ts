import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { DatabaseHandle } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { listen } from '../platform/notifications.ts'
import { createWaker } from '../platform/waker.ts'
import type { EventTransport, OutgoingRecord } from './transport.ts'

export interface RelayOptions {
  database: DatabaseHandle
  transport: EventTransport
  logger: Logger
  registry: Registry
  batchSize?: number
  /** Fallback poll when no NOTIFY arrives. */
  idleMs?: number
}

export interface OutboxRelay {
  start(): Promise<void>
  stop(): Promise<void>
  /** Moves one batch; returns how many events it published (0 when another instance holds the relay lock). */
  relayOnce(): Promise<number>
}

/** Advisory lock key: one relay publishes at a time, which keeps per-key order across instances. */
const RELAY_LOCK = 727_002

/**
 * Moves committed outbox rows to the transport in commit order, in batches: publish (acknowledged by the
 * transport), then delete, in one database transaction. A crash between the two publishes the batch again, which
 * consumers absorb by event id, so nothing is lost and nothing is applied twice.
 */
export function createOutboxRelay(options: RelayOptions): OutboxRelay {
  const db = options.database.db
  const batchSize = options.batchSize ?? 2000
  const idleMs = options.idleMs ?? 100
  const published = new Counter({
    name: 'outbox_published_total',
    help: 'Events moved from the outbox to the transport',
    registers: [options.registry],
  })
  new Gauge({
    name: 'outbox_backlog',
    help: 'Events committed but not yet published',
    registers: [options.registry],
    async collect() {
      const row = await db
        .selectFrom('outbox')
        .select(sql<number>`count(*)::int`.as('n'))
        .executeTakeFirst()
        .catch(() => undefined)
      this.set(row?.n ?? 0)
    },
  })
  new Gauge({
    name: 'outbox_oldest_age_seconds',
    help: 'Age of the oldest unpublished event',
    registers: [options.registry],
    async collect() {
      const row = await db
        .selectFrom('outbox')
        .select(sql<number | null>`extract(epoch from now() - min(created_at))::float8`.as('age'))
        .executeTakeFirst()
        .catch(() => undefined)
      this.set(row?.age ?? 0)
    },
  })

  async function relayOnce(): Promise<number> {
    return db.transaction().execute(async (tx) => {
      const lock = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${RELAY_LOCK}) as ok`.execute(
        tx,
      )
      if (!lock.rows[0]?.ok) return 0
      const rows = await tx
        .selectFrom('outbox')
        .select(['seq', 'topic', 'key', 'event'])
        .orderBy('seq')
        .limit(batchSize)
        .execute()
      if (rows.length === 0) return 0
      const transport = options.transport
      const publish = transport.publishWithin
        ? (records: OutgoingRecord[]) => transport.publishWithin!(tx, records)
        : (records: OutgoingRecord[]) => transport.publish(records)
      await publish(
        rows.map((r) => {
          const value = typeof r.event === 'string' ? r.event : JSON.stringify(r.event)
          const traceparent = (r.event as { traceparent?: string } | null)?.traceparent
          return {
            topic: r.topic,
            key: r.key,
            value,
            headers: {
              'content-type': 'application/cloudevents+json',
              ...(traceparent ? { traceparent } : {}),
            },
          }
        }),
      )
      await tx
        .deleteFrom('outbox')
        .where(
          'seq',
          'in',
          rows.map((r) => r.seq),
        )
        .execute()
      published.inc(rows.length)
      return rows.length
    })
  }

  let stopped = true
  let loop: Promise<void> = Promise.resolve()
  let unlisten: (() => Promise<void>) | undefined
  const waker = createWaker()

  return {
    relayOnce,
    async start() {
      if (!stopped) return
      stopped = false
      unlisten = await listen(options.database, 'outbox', () => waker.notify())
      loop = (async () => {
        let failures = 0
        while (!stopped) {
          let moved = 0
          try {
            moved = await relayOnce()
            failures = 0
          } catch (error) {
            failures++
            options.logger.warn({ err: error, failures }, 'outbox relay batch failed; retrying')
            await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)))
            continue
          }
          // Look again after any batch; otherwise wait for a NOTIFY (one that came meanwhile is not lost).
          if (moved > 0 || stopped) continue
          await waker.wait(idleMs)
        }
      })()
    },
    async stop() {
      stopped = true
      waker.notify()
      await loop
      await unlisten?.()
    },
  }
}
