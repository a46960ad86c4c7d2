import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { Registry } from 'prom-client'
import { v7 as uuidv7 } from 'uuid'
import { prepareDatabase } from '../../src/database.ts'
import { buildEvent } from '../../src/events/envelope.ts'
import { appendToOutbox } from '../../src/events/outbox/append.ts'
import { createOutboxRelay, type OutboxRelay } from '../../src/events/outbox/relay.ts'
import { ConsumerRuntime } from '../../src/events/runtime/consumer-runtime.ts'
import { durabilityFor, topicCatalog } from '../../src/events/topics.ts'
import { createLocalTransport } from '../../src/events/transport/local/transport.ts'
import type { EventTransport } from '../../src/events/transport/port.ts'
import { prefixed } from '../../src/events/transport/prefixed.ts'
import { type DatabaseHandle, openPostgres } from '../../src/platform/db.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { adminQuery } from '../../test/support/postgres-admin.ts'
import { percentile, waitFor } from '../../test/support/wait.ts'
import {
  deleteTopicsUnder,
  localBrokerPids,
  POSTGRES_ADMIN_URL,
  perOp,
  processesCpuMeter,
} from '../support/service.ts'

const logger = createLogger(process.env.LOG_LEVEL ?? 'warn')

export interface EventsOptions {
  events: number
  rate: number
  steadySeconds: number
  relayBatch: number
  /** The service's linger on this transport (relayLingerMs): the steady stream is measured with it, then without. */
  relayLingerMs: number
  /** The event topic's partitions, as the service creates them (EVENT_PARTITIONS). */
  partitions: number
}

async function makeTransport(kind: string, handle: DatabaseHandle, prefix: string): Promise<EventTransport> {
  if (kind === 'local') return createLocalTransport(handle, { logger })
  const { createKafkaTransport } = await import('../../src/events/transport/kafka/transport.ts')
  const kafka = createKafkaTransport({
    brokers: process.env.KAFKA_BROKERS!.split(','),
    clientId: 'bench',
    logger,
  })
  // Topics and the group of this run alone, on a cluster other runs share.
  return prefixed(kafka, prefix)
}

/**
 * The event backbone on real PostgreSQL, on one transport: relay throughput (a full outbox to the transport), consume
 * throughput (the runtime, envelope check and idempotency record per event, drains the topic), and commit-to-handler
 * latency under a steady stream of single-event transactions, with the relay lingering as the service's does.
 */
export async function measureEvents(kind: string, o: EventsOptions) {
  const {
    events: EVENTS,
    rate: RATE,
    steadySeconds: STEADY_SECONDS,
    relayBatch: BATCH,
    relayLingerMs: lingerMs,
    partitions,
  } = o
  const dbName = `bench_events_${randomBytes(4).toString('hex')}`
  await adminQuery(`create database ${dbName}`)
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${dbName}`
  const handle = openPostgres(url.toString(), 10)
  await prepareDatabase(handle.db)
  const transport = await makeTransport(kind, handle, dbName)
  const brokers = kind === 'kafka' ? process.env.KAFKA_BROKERS!.split(',').length : 1
  await transport.ensureTopics(
    topicCatalog(durabilityFor(brokers), partitions).filter((t) => t.name.startsWith('points.charged')),
  )
  const registry = new Registry()
  const relay = createOutboxRelay({ database: handle, transport, logger, registry, batchSize: BATCH })
  // A run-specific tag in the payload keeps the figures clean of earlier runs' events on a shared Kafka topic.
  const tag = randomBytes(4).readUInt32BE() & 0x3fffffff
  let shipped: OutboxRelay | undefined
  try {
    // 1. relay throughput: a full outbox drained to the transport
    const users = Array.from({ length: 500 }, () => uuidv7())
    for (let i = 0; i < EVENTS; i += 5000) {
      const events = Array.from({ length: Math.min(5000, EVENTS - i) }, (_, j) => {
        const user = users[(i + j) % users.length]!
        return buildEvent('points.charged', user, {
          userId: user,
          amount: i + j + 1,
          balance: tag,
          ledgerId: i + j + 1,
        })
      })
      await appendToOutbox(handle.db, events)
    }
    let relayed = 0
    const relayStart = performance.now()
    for (let n = await relay.relayOnce(); n > 0; n = await relay.relayOnce()) relayed += n
    const relaySeconds = (performance.now() - relayStart) / 1000

    // 2. consume throughput: the runtime (envelope check + processed-event insert per event) drains the topic
    let consumed = 0
    let firstAt = 0
    let lastAt = 0
    const committedAt = new Map<string, number>()
    let latencies: number[] = []
    const runtime = new ConsumerRuntime({ db: handle.db, transport, logger, registry })
    runtime.register({
      group: `bench-${tag}`,
      topic: 'points.charged',
      async handle(event) {
        if (event.data.balance !== tag) return
        const now = performance.now()
        const committed = committedAt.get(event.id)
        if (committed !== undefined) latencies.push(now - committed)
        else {
          consumed++
          firstAt ||= now
          lastAt = now
        }
      },
    })
    await runtime.start()
    await waitFor('every event consumed', () => consumed >= EVENTS, { timeoutMs: 300_000, intervalMs: 20 })
    const consumeSeconds = (lastAt - firstAt) / 1000

    // 3. commit-to-handler latency: single-event transactions at RATE/s while relay and consumers run, the relay
    // lingering as the service's does on this transport (the goal's figure), then, where that linger is not 0,
    // without it (the figure of the runs before 2026-12-05 07:30 UTC, which measured the relay without it).
    let steady = 0
    // What the stream cost, per event: this process (`generator`: the stream, the relay and the consumers), the
    // PostgreSQL backends of this database, the brokers when they run on this machine, and the whole machine. The
    // linger's case is fewer, larger publishes, so less work for the brokers: this shows what it buys beside its cost.
    const brokers = kind === 'kafka' ? localBrokerPids(process.env.KAFKA_BROKERS!.split(',')) : []
    const steadyLatency = async (steadyRelay: OutboxRelay) => {
      latencies = []
      await steadyRelay.start()
      const total = RATE * STEADY_SECONDS
      const cpu = processesCpuMeter({ database: dbName, brokers })
      const began = performance.now()
      for (let i = 0; i < total; i++) {
        const due = began + (i * 1000) / RATE
        const wait = due - performance.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        const user = users[i % users.length]!
        const event = buildEvent('points.charged', user, {
          userId: user,
          amount: 1,
          balance: tag,
          ledgerId: steady++,
        })
        // Stamped just before the commit: a fast handler may run before this await returns.
        committedAt.set(event.id, performance.now())
        await handle.db.transaction().execute((tx) => appendToOutbox(tx, [event]))
      }
      await waitFor('every latency sample', () => latencies.length >= total, {
        timeoutMs: 60_000,
        intervalMs: 20,
      })
      const cpuMsPerEvent = perOp(cpu(), total)
      await steadyRelay.stop()
      latencies.sort((a, b) => a - b)
      return {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p95: Number(percentile(latencies, 95).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
        max: Number((latencies.at(-1) ?? 0).toFixed(1)),
        cpuMsPerEvent,
      }
    }
    shipped = createOutboxRelay({
      database: handle,
      transport,
      logger,
      registry: new Registry(),
      batchSize: BATCH,
      lingerMs,
    })
    const commitToHandlerMs = await steadyLatency(shipped)
    const withoutLinger = lingerMs > 0 ? await steadyLatency(relay) : undefined
    await runtime.stop()
    const duplicates = await sql<{ n: number }>`
      select count(*)::int - count(distinct event_id)::int as n from processed_events`.execute(handle.db)
    return {
      transport: kind,
      brokers,
      events: EVENTS,
      relayBatch: BATCH,
      relayEventsPerSecond: Math.round(relayed / relaySeconds),
      consumeEventsPerSecond: Math.round(consumed / consumeSeconds),
      steadyRate: RATE,
      relayLingerMs: lingerMs,
      commitToHandlerMs,
      ...(withoutLinger ? { commitToHandlerWithoutLingerMs: withoutLinger } : {}),
      relayed,
      consumed,
      duplicateEffects: duplicates.rows[0]!.n,
    }
  } finally {
    await shipped?.stop()
    await relay.stop()
    await transport.close()
    await handle.close()
    await adminQuery(`drop database if exists ${dbName} with (force)`)
    if (kind === 'kafka') await deleteTopicsUnder(dbName)
  }
}
