import { Counter, Gauge, type Registry } from 'prom-client'
import { tryXactLock } from '../../platform/advisory-locks.ts'
import { createBackgroundLoop } from '../../platform/background-loop.ts'
import type { DatabaseHandle } from '../../platform/db.ts'
import type { Logger } from '../../platform/logger.ts'
import { listen } from '../../platform/pg-listen.ts'
import type { EventTransport, OutgoingRecord } from '../transport/port.ts'
import { outboxBacklog } from './backlog.ts'

export interface RelayOptions {
  database: DatabaseHandle
  transport: EventTransport
  logger: Logger
  registry: Registry
  batchSize?: number
  /**
   * The topics this relay may publish (the topic catalog of its version). A row of another topic (written by a newer
   * version during a rolling upgrade, or by a bug) stays in the outbox for a relay that knows it, reported by
   * retention, and holds up nothing behind it. All topics when absent.
   */
  topics?: readonly string[]
  /** Fallback poll when no NOTIFY arrives. */
  idleMs?: number
}

export interface OutboxRelay {
  start(): Promise<void>
  stop(): Promise<void>
  /** Moves one batch; returns how many events it published (0 when another instance holds the relay lock). */
  relayOnce(): Promise<number>
}

/**
 * Moves committed outbox rows to the transport in commit order, in batches: publish (acknowledged by the
 * transport), then delete, in one database transaction. A crash between the two publishes the batch again, which
 * consumers absorb by event id, so nothing is lost and nothing is applied twice. One relay publishes at a time (an
 * advisory lock), which keeps per-key order across instances.
 */
export function createOutboxRelay(options: RelayOptions): OutboxRelay {
  const db = options.database.db
  const batchSize = options.batchSize ?? 2000
  const published = new Counter({
    name: 'outbox_published_total',
    help: 'Events moved from the outbox to the transport',
    registers: [options.registry],
  })
  const backlog = () => outboxBacklog(db).catch(() => ({ backlog: 0, oldestAgeSeconds: 0 }))
  new Gauge({
    name: 'outbox_backlog',
    help: 'Events committed but not yet published',
    registers: [options.registry],
    async collect() {
      this.set((await backlog()).backlog)
    },
  })
  new Gauge({
    name: 'outbox_oldest_age_seconds',
    help: 'Age of the oldest unpublished event',
    registers: [options.registry],
    async collect() {
      this.set((await backlog()).oldestAgeSeconds)
    },
  })

  async function relayOnce(): Promise<number> {
    return db.transaction().execute(async (tx) => {
      if (!(await tryXactLock(tx, 'relay'))) return 0
      let query = tx.selectFrom('outbox').select(['seq', 'topic', 'key', 'event'])
      if (options.topics) query = query.where('topic', 'in', options.topics)
      const rows = await query.orderBy('seq').limit(batchSize).execute()
      if (rows.length === 0) return 0
      const records: OutgoingRecord[] = rows.map((r) => {
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
      })
      const transport = options.transport
      if (transport.publishWithin) await transport.publishWithin(tx, records)
      else await transport.publish(records)
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

  // Look again after any batch; otherwise wait for a NOTIFY (one that came meanwhile is not lost) or the poll.
  const loop = createBackgroundLoop({
    name: 'outbox-relay',
    logger: options.logger,
    idleMs: options.idleMs ?? 100,
    run: async () => (await relayOnce()) > 0,
  })
  let unlisten: (() => Promise<void>) | undefined

  return {
    relayOnce,
    async start() {
      if (loop.running) return
      unlisten = await listen(options.database, 'outbox', () => loop.wake())
      loop.start()
    },
    async stop() {
      await loop.stop()
      await unlisten?.()
      unlisten = undefined
    },
  }
}
