import { createLocalTransport } from '../../../src/events/transport/local/transport.ts'
import type {
  ConsumerHandle,
  EventTransport,
  LagEntry,
  TransportRecord,
} from '../../../src/events/transport/port.ts'
import { prefixed } from '../../../src/events/transport/prefixed.ts'
import type { DatabaseHandle } from '../../../src/platform/db.ts'
import { createLogger, type Logger } from '../../../src/platform/logger.ts'
import type { TransportKind } from '../../support/transports.ts'

export const testLogger = (): Logger => createLogger(process.env.LOG_LEVEL ?? 'silent', 'events-test')

/** A record as a consumer received it, seen below the consumer runtime (so duplicates are counted too). */
export interface Delivery {
  group: string
  topic: string
  partition: number
  offset: bigint
  key: string
  eventId: string | undefined
  at: number
}

/**
 * A transport whose topics and groups live under a namespace (`<ns>.points.charged`, `<ns>.<group>`), invisible to
 * the relay and the runtime above it: they keep using event-type topic names, so retry topics, dead letters and
 * replay run unchanged, while every test has topics and groups of its own on a shared Kafka cluster.
 */
export interface TestTransport extends EventTransport {
  readonly ns: string
  readonly inner: EventTransport
  /** Called for every record handed to a consumer of this process, before the runtime sees it. */
  onDeliver: ((delivery: Delivery) => void | Promise<void>) | undefined
  /** Partitions owned right now by this process's consumers, per group (names without the namespace). */
  assignments(): { group: string; topic: string; partition: number }[]
  /** The namespaced names of every topic and group this transport touched (for cleanup). */
  readonly touched: { topics: Set<string>; groups: Set<string> }
}

export function namespaced(inner: EventTransport, ns: string): TestTransport {
  const to = (name: string) => `${ns}.${name}`
  const from = (name: string) => (name.startsWith(`${ns}.`) ? name.slice(ns.length + 1) : name)
  const handles = new Set<ConsumerHandle>()
  const touched = { topics: new Set<string>(), groups: new Set<string>() }
  const under = prefixed(inner, ns)
  const transport: TestTransport = {
    kind: inner.kind,
    ns,
    inner,
    touched,
    onDeliver: undefined,
    async ensureTopics(specs) {
      for (const s of specs) touched.topics.add(to(s.name))
      await inner.ensureTopics(specs.map((s) => ({ ...s, name: to(s.name) })))
    },
    publish: (records) => under.publish(records),
    // reading back what a relay published: the production prefixing, which these names are
    ...(under.partitionBounds && under.readHeader
      ? { partitionBounds: under.partitionBounds, readHeader: under.readHeader }
      : {}),
    async consume(spec) {
      touched.groups.add(to(spec.group))
      const handle = await inner.consume({
        ...spec,
        group: to(spec.group),
        topics: spec.topics.map(to),
        handle: async (record: TransportRecord, signal: AbortSignal) => {
          const local = { ...record, topic: from(record.topic) }
          await transport.onDeliver?.({
            group: spec.group,
            topic: local.topic,
            partition: record.partition,
            offset: record.offset,
            key: record.key,
            eventId: eventIdOf(record.value),
            at: Date.now(),
          })
          await spec.handle(local, signal)
        },
      })
      const wrapped: ConsumerHandle = {
        group: spec.group,
        assignments: () => handle.assignments().map((a) => ({ ...a, topic: from(a.topic) })),
        waitingForDue: () => handle.waitingForDue(),
        async close() {
          handles.delete(wrapped)
          await handle.close()
        },
      }
      handles.add(wrapped)
      return wrapped
    },
    async lag(groups) {
      const entries = await inner.lag(groups.map((g) => ({ group: to(g.group), topics: g.topics.map(to) })))
      return entries.map((e: LagEntry) => ({ ...e, group: from(e.group), topic: from(e.topic) }))
    },
    // the production prefixing, as for reading back
    ...(under.lagAsFarAsKnown ? { lagAsFarAsKnown: (groups) => under.lagAsFarAsKnown!(groups) } : {}),
    assignments() {
      return [...handles].flatMap((h) => h.assignments().map((a) => ({ group: h.group, ...a })))
    },
    async close() {
      handles.clear()
      await inner.close()
    },
  }
  return transport
}

function eventIdOf(value: string): string | undefined {
  try {
    const id = (JSON.parse(value) as { id?: unknown }).id
    return typeof id === 'string' ? id : undefined
  } catch {
    return undefined
  }
}

export interface TransportSettings {
  kind: TransportKind
  brokers: string[]
  ns: string
  /**
   * How soon a dead member's partitions move to the others: the local transport's lease, Kafka's session timeout
   * (6 s, the brokers' `group.min.session.timeout.ms`, instead of the production 30 s, to keep crash tests short).
   */
  failoverMs?: number
}

/** Builds the real transport of that kind (local: on this database; kafka: on the cluster), namespaced. */
export async function openTransport(
  handle: DatabaseHandle,
  settings: TransportSettings,
  logger: Logger,
): Promise<TestTransport> {
  if (settings.kind === 'local') {
    const leaseMs = settings.failoverMs ?? 2_000
    return namespaced(createLocalTransport(handle, { logger, leaseMs, pollMs: 250 }), settings.ns)
  }
  const { createKafkaTransport } = await import('../../../src/events/transport/kafka/transport.ts')
  const inner = createKafkaTransport({
    brokers: settings.brokers,
    clientId: `${settings.ns}-${process.pid}`,
    logger,
    sessionTimeoutMs: settings.failoverMs ?? 6_000,
  })
  return namespaced(inner, settings.ns)
}
