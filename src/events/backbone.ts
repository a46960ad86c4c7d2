import type { Registry } from 'prom-client'
import { retryFor } from '../platform/backoff.ts'
import type { Config } from '../platform/config.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import { answeredWithin } from '../platform/deadline.ts'
import { StartupError } from '../platform/errors.ts'
import { type FanLoad, fanLoad } from '../platform/fan-load.ts'
import type { Logger } from '../platform/logger.ts'
import { eventTypes } from './event-types.ts'
import { createOutboxRelay, type OutboxRelay } from './outbox/relay.ts'
import { ConsumerRuntime } from './runtime/consumer-runtime.ts'
import { durabilityFor, topicCatalog } from './topics.ts'
import { createLocalTransport } from './transport/local/transport.ts'
import type { EventTransport } from './transport/port.ts'
import { prefixed } from './transport/prefixed.ts'

export interface EventBackbone {
  readonly transport: EventTransport
  readonly runtime: ConsumerRuntime
  readonly relay: OutboxRelay
  /** The fans' operations in flight on this instance, which the side effects no fan waits for yield to. */
  readonly fans: FanLoad
  /**
   * Declares topics (not on Kafka for an instance that only serves the API), starts the relay, and starts the
   * consumers for the roles this instance runs without waiting for their groups to join (`runtime.joined` says
   * when): nothing else of the instance waits for a rebalance.
   */
  start(roles: { relay: boolean; workers: boolean }): Promise<void>
  /** Stops the relay, drains consumers (committing what finished), closes the transport. */
  stop(): Promise<void>
}

/** The innermost reason of a client error (the library wraps a refused connection in several aggregates). */
function rootReason(error: unknown): string {
  let e = error as { errors?: unknown[]; cause?: unknown; code?: string; message?: string }
  for (let depth = 0; depth < 10; depth++) {
    const inner = e.errors?.[0] ?? e.cause
    if (!inner || typeof inner !== 'object') break
    e = inner as typeof e
  }
  return e.message ?? String(e)
}

/** The least time a try to declare the topics gets before the brokers count as not answering. */
const SILENT_BROKER_MS = 10_000

const silentAfter = <T>(work: Promise<T>, ms: number) =>
  answeredWithin(work, ms, `a connection was taken but nothing answered within ${Math.round(ms / 1000)} s`)

/** Kafka when KAFKA_BROKERS is set, else the embedded log in the service's own database. */
export async function createTransport(
  config: Config,
  database: DatabaseHandle,
  logger: Logger,
): Promise<EventTransport> {
  if (config.kafkaBrokers.length === 0)
    return createLocalTransport(database, { logger: logger.child({ transport: 'local' }) })
  const { createKafkaTransport } = await import('./transport/kafka/transport.ts')
  const kafka = createKafkaTransport({
    brokers: [...config.kafkaBrokers],
    clientId: config.KAFKA_CLIENT_ID,
    groupInstanceId: config.INSTANCE_ID,
    logger: logger.child({ transport: 'kafka' }),
  })
  return config.KAFKA_TOPIC_PREFIX ? prefixed(kafka, config.KAFKA_TOPIC_PREFIX) : kafka
}

/**
 * The relay's linger on a transport unless RELAY_LINGER_MS says otherwise: on Kafka every publish sets off the
 * brokers' work per request (the produce, its replication, the woken fetches of every group on the topic). In a steady
 * stream of 500 events a second (bench/HISTORY.md, 2026-12-05), 30 ms cut the brokers' CPU per event by a third
 * against no linger and kept commit→handler p99 at 62-68 ms; 50 ms cut it by 44 % but put that p99 at 79-91 ms, and
 * over the goal of 100 ms on a busier machine. The embedded log has no such cost.
 */
export function relayLingerMs(kind: EventTransport['kind'], configured?: number): number {
  return configured ?? (kind === 'kafka' ? 30 : 0)
}

/**
 * The relay's linger while the instance's fans keep it busy (FanLoad), unless RELAY_BUSY_LINGER_MS says otherwise:
 * 100 ms on Kafka. A fan's answer never waits for the relay, and during a burst each publish's woken fetches cost the
 * brokers the most: in two alternated rounds of Kafka payments runs on the thirty-eighth machine, the brokers' CPU per
 * payment was 0.054-0.066 ms against 0.082-0.132 without it, the machine's 0.41-0.57 against 0.54-0.68 ms. What a fan
 * does wait for behind the relay (a coupon's decision, a seat offered) comes up to 70 ms later during the burst. The
 * embedded log gained nothing (0.52-0.54 against 0.55-0.59 ms per payment, within the noise).
 */
export function relayBusyLingerMs(kind: EventTransport['kind'], configured?: number): number {
  return configured ?? (kind === 'kafka' ? 100 : 0)
}

export function createEventBackbone(options: {
  config: Config
  database: DatabaseHandle
  transport: EventTransport
  logger: Logger
  registry: Registry
}): EventBackbone {
  const { config, database, transport, logger, registry } = options
  const fans = fanLoad(database)
  const runtime = new ConsumerRuntime({
    db: database.db,
    transport,
    logger,
    registry,
    retryDelaysMs: config.retryDelaysMs,
    // The fans' group commits of this instance count into the same FanLoad (API role; none on PGlite).
    fans: { load: fans, yieldMs: config.YIELD_TO_FANS_MS },
  })
  const relay = createOutboxRelay({
    database,
    transport,
    logger,
    registry,
    batchSize: config.RELAY_BATCH_SIZE,
    lingerMs: relayLingerMs(transport.kind, config.RELAY_LINGER_MS),
    busyLinger: { fans, ms: relayBusyLingerMs(transport.kind, config.RELAY_BUSY_LINGER_MS) },
    topics: Object.keys(eventTypes),
  })
  let running = { relay: false, workers: false }

  return {
    transport,
    runtime,
    relay,
    fans,
    async start(roles) {
      // An instance that only serves the API writes its events to the outbox and needs no broker (it reads the lag
      // for the console when it can): it starts, and fans keep buying, while the brokers are away; the relay and
      // workers instances declare the topics.
      if (transport.kind === 'kafka' && !roles.relay && !roles.workers) {
        logger.info(
          'api only: starting without waiting for Kafka (the outbox keeps the events for the relay)',
        )
        return
      }
      const durability = durabilityFor(Math.max(1, config.kafkaBrokers.length))
      const topics = topicCatalog(durability, config.EVENT_PARTITIONS, config.retryDelaysMs.length)
      const where = `Kafka at ${config.kafkaBrokers.join(',')}`
      const deadline = Date.now() + config.KAFKA_WAIT_SECONDS * 1000
      await retryFor(
        config.KAFKA_WAIT_SECONDS,
        // A broker address that accepts connections and never answers (a wrong port, a stalled host) would hold a
        // try for the client's request timeouts and retries (minutes): each try ends by the deadline, or after
        // SILENT_BROKER_MS when less is left.
        () =>
          transport.kind === 'kafka'
            ? silentAfter(transport.ensureTopics(topics), Math.max(deadline - Date.now(), SILENT_BROKER_MS))
            : transport.ensureTopics(topics),
        (error, tries, timeLeft) => {
          if (transport.kind !== 'kafka') throw error
          if (!timeLeft) {
            throw new StartupError(
              `${where} did not answer within ${config.KAFKA_WAIT_SECONDS} s (KAFKA_WAIT_SECONDS): ${rootReason(error)}`,
            )
          }
          logger.warn(
            { attempt: tries },
            `${where} does not answer yet: ${rootReason(error)}; waiting (KAFKA_WAIT_SECONDS=${config.KAFKA_WAIT_SECONDS})`,
          )
        },
      )
      if (roles.relay) await relay.start()
      if (roles.workers) void runtime.start()
      running = roles
    },
    async stop() {
      if (running.relay) await relay.stop()
      if (running.workers) await runtime.stop()
      running = { relay: false, workers: false }
      await transport.close()
    },
  }
}
