import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import { Registry } from 'prom-client'
import { buildEvent, type CloudEvent } from '../../src/events/envelope.ts'
import type { EventType } from '../../src/events/event-types.ts'
import type { EventHandler, TransactionContext, TransactionHandler } from '../../src/events/index.ts'
import { appendToOutbox } from '../../src/events/outbox/append.ts'
import { createOutboxRelay, type OutboxRelay } from '../../src/events/outbox/relay.ts'
import { ConsumerRuntime } from '../../src/events/runtime/consumer-runtime.ts'
import { durabilityFor, topicCatalog } from '../../src/events/topics.ts'
import { createLocalTransport } from '../../src/events/transport/local/transport.ts'
import type {
  ConsumerHandle,
  EventTransport,
  LagEntry,
  OutgoingRecord,
  TransportRecord,
} from '../../src/events/transport/port.ts'
import type { DatabaseHandle, Db } from '../../src/platform/db.ts'
import { createLogger, type Logger } from '../../src/platform/logger.ts'
import { createTestDatabase } from '../support/databases.ts'
import { percentile, waitFor } from '../support/wait.ts'

export { percentile, waitFor }

export type TransportKind = 'local' | 'kafka'

export interface TransportTarget {
  kind: TransportKind
  /** Why the transport is skipped (undefined: it runs). */
  skip: string | undefined
  /** Why the transport must fail: it is required (TEST_KAFKA_REQUIRED=1) but unavailable. */
  fail: string | undefined
  brokers: string[]
}

const KAFKA_TRANSPORT_FILE = fileURLToPath(
  new URL('../../src/events/transport/kafka/transport.ts', import.meta.url),
)

/**
 * The transports to run: `local` always, `kafka` when its transport exists and KAFKA_BROKERS is set (skipped with
 * the reason otherwise, failed when TEST_KAFKA_REQUIRED=1). TEST_TRANSPORTS narrows the list (`local`, `kafka`).
 */
export function transportTargets(kinds: readonly TransportKind[] = ['local', 'kafka']): TransportTarget[] {
  const only = process.env.TEST_TRANSPORTS?.split(',').map((k) => k.trim())
  return kinds.filter((k) => !only || only.includes(k)).map((kind) => targetFor(kind))
}

function targetFor(kind: TransportKind): TransportTarget {
  if (kind === 'local') return { kind, skip: undefined, fail: undefined, brokers: [] }
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean)
  let missing: string | undefined
  if (!existsSync(KAFKA_TRANSPORT_FILE)) missing = 'src/events/transport/kafka/transport.ts does not exist'
  else if (brokers.length === 0)
    missing = 'KAFKA_BROKERS is not set (start a cluster: bash scripts/kafka/kafka.sh up --brokers 3)'
  if (!missing) return { kind, skip: undefined, fail: undefined, brokers }
  return process.env.TEST_KAFKA_REQUIRED === '1'
    ? { kind, skip: undefined, fail: `Kafka is required (TEST_KAFKA_REQUIRED=1) but ${missing}`, brokers }
    : { kind, skip: `kafka skipped: ${missing}`, fail: undefined, brokers }
}

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
    async publish(records: readonly OutgoingRecord[]) {
      await inner.publish(records.map((r) => ({ ...r, topic: to(r.topic) })))
    },
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
  const { createKafkaTransport } = await import('../../src/events/transport/kafka/transport.ts')
  const inner = createKafkaTransport({
    brokers: settings.brokers,
    clientId: `${settings.ns}-${process.pid}`,
    logger,
    sessionTimeoutMs: settings.failoverMs ?? 6_000,
  })
  return namespaced(inner, settings.ns)
}

/** The topic specs of these event types (the type, its retry stages and its dead letters), for this cluster. */
export function topicsOf(types: readonly EventType[], brokers: number) {
  return topicCatalog(durabilityFor(brokers)).filter((spec) =>
    types.some((t) => spec.name === t || spec.name.startsWith(`${t}.`)),
  )
}

/** One test's world: a fresh Postgres database, a transport namespaced to this test, and their cleanup. */
export interface Rig {
  readonly target: TransportTarget
  readonly handle: DatabaseHandle & { url?: string }
  readonly db: Db
  readonly transport: TestTransport
  readonly logger: Logger
  readonly settings: TransportSettings
  /** Declares the topics of these event types (with retry stages and dead letters) in the namespace. */
  declare(...types: EventType[]): Promise<void>
  /** A consumer group used by child processes: returned as is, and deleted from the cluster at close. */
  childGroup(group: string): string
  /** Runs `fn` at close, before the transport and database go (last registered, first run). */
  defer(fn: () => Promise<unknown> | unknown): void
  close(): Promise<void>
}

export interface TestCleanup {
  after(fn: () => Promise<void>): void
}

/** A rig closed when the test ends. */
export async function createRigFor(target: TransportTarget, t: TestCleanup, name: string): Promise<Rig> {
  const rig = await createRig(target, name)
  t.after(() => rig.close())
  return rig
}

export async function createRig(target: TransportTarget, name: string): Promise<Rig> {
  const ns = `conf-${name}-${randomBytes(4).toString('hex')}`
  const logger = testLogger()
  const handle = await createTestDatabase('postgres', `${target.kind}_${name}`, 30)
  await createEffectTables(handle.db)
  const settings: TransportSettings = { kind: target.kind, brokers: target.brokers, ns }
  const transport = await openTransport(handle, settings, logger)
  const deferred: (() => Promise<unknown> | unknown)[] = []
  return {
    target,
    handle,
    db: handle.db,
    transport,
    logger,
    settings,
    declare: (...types) => transport.ensureTopics(topicsOf(types, Math.max(1, target.brokers.length))),
    defer: (fn) => deferred.push(fn),
    childGroup(group) {
      transport.touched.groups.add(`${ns}.${group}`)
      return group
    },
    async close() {
      for (const fn of deferred.reverse()) {
        try {
          await fn()
        } catch (error) {
          logger.warn({ err: error }, 'cleanup step failed')
        }
      }
      await transport.close()
      if (target.kind === 'kafka') await deleteKafkaResources(target.brokers, transport.touched)
      await handle.close()
    },
  }
}

/** Best effort: the test's topics and groups are removed so the shared cluster does not fill up. */
async function deleteKafkaResources(
  brokers: string[],
  touched: { topics: Set<string>; groups: Set<string> },
): Promise<void> {
  const { Admin } = await import('@platformatic/kafka')
  const admin = new Admin({ clientId: 'conformance-cleanup', bootstrapBrokers: brokers })
  try {
    if (touched.groups.size > 0) await admin.deleteGroups({ groups: [...touched.groups] }).catch(() => {})
    if (touched.topics.size > 0) await admin.deleteTopics({ topics: [...touched.topics] }).catch(() => {})
  } finally {
    await admin.close().catch(() => {})
  }
}

/**
 * Tables the test handlers write: `conf_effects` inside the handler's transaction (what happened once),
 * `conf_deliveries` in autocommit below the runtime (every time a record was handed over, duplicates included).
 */
export async function createEffectTables(db: Db): Promise<void> {
  await sql`create table conf_effects (
      id bigserial primary key, group_id text not null, event_id text not null, key text not null,
      seq integer not null, attempt integer not null, topic text not null, pid integer not null,
      at timestamptz not null default clock_timestamp())`.execute(db)
  await sql`create table conf_deliveries (
      id bigserial primary key, group_id text not null, event_id text, topic text not null,
      partition integer not null, "offset" bigint not null, pid integer not null,
      at timestamptz not null default clock_timestamp())`.execute(db)
}

export interface EffectRow {
  id: number
  event_id: string
  key: string
  seq: number
  attempt: number
  topic: string
  pid: number
  at: Date
}

export async function effectsOf(db: Db, group: string): Promise<EffectRow[]> {
  const result = await sql<EffectRow>`
    select id, event_id, key, seq, attempt, topic, pid, at from conf_effects where group_id = ${group}
    order by id`.execute(db)
  return result.rows
}

export async function distinctEffects(db: Db, group: string): Promise<number> {
  const result = await sql<{ n: number }>`
    select count(distinct event_id)::int as n from conf_effects where group_id = ${group}`.execute(db)
  return result.rows[0]!.n
}

/** Event ids with their effect count, for `exactly once` checks: every expected id once, nothing else. */
export function effectCountsById(rows: readonly EffectRow[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const r of rows) counts.set(r.event_id, (counts.get(r.event_id) ?? 0) + 1)
  return counts
}

export function exactlyOnceProblems(rows: readonly EffectRow[], expected: readonly string[]): string[] {
  const counts = effectCountsById(rows)
  const problems: string[] = []
  for (const id of expected) {
    const n = counts.get(id) ?? 0
    if (n !== 1) problems.push(`${id}: ${n} effects`)
  }
  const known = new Set(expected)
  for (const id of counts.keys()) if (!known.has(id)) problems.push(`${id}: unexpected effect`)
  return problems
}

/** Keys whose effects are not in their publication order (`seq` 1, 2, 3, ... per key in effect order). */
export function orderProblems(rows: readonly EffectRow[]): string[] {
  const lastSeq = new Map<string, number>()
  const problems: string[] = []
  for (const r of rows) {
    const last = lastSeq.get(r.key) ?? 0
    if (r.seq !== last + 1) problems.push(`key ${r.key}: seq ${r.seq} after ${last}`)
    lastSeq.set(r.key, r.seq)
  }
  return problems
}

/** Appends events to the outbox, `perTx` per transaction, in the order given. */
export async function appendEvents(db: Db, events: readonly CloudEvent[], perTx = 100): Promise<void> {
  for (let i = 0; i < events.length; i += perTx) {
    await db.transaction().execute((tx) => appendToOutbox(tx, events.slice(i, i + perTx)))
  }
}

export async function outboxCount(db: Db): Promise<number> {
  const result = await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(db)
  return result.rows[0]!.n
}

/** Waits until every group has committed everything on its topics (lag 0 and at least `minEnd` records in all). */
export async function waitForDrain(
  transport: EventTransport,
  groups: readonly { group: string; topics: readonly string[] }[],
  timeoutMs = 30_000,
): Promise<LagEntry[]> {
  let entries: LagEntry[] = []
  await waitFor(
    `consumer lag 0 for ${groups.map((g) => g.group).join(', ')}`,
    async () => {
      entries = await transport.lag(groups)
      return entries.every((e) => e.lag === 0n)
    },
    { timeoutMs, intervalMs: 100 },
  )
  return entries
}

/** A fixture program (test/events/fixtures/<name>.ts) in a child process, speaking JSON lines on stdout. */
export interface Child {
  readonly pid: number
  readonly messages: Record<string, unknown>[]
  /** Resolves with the first message at or after index `from` (0: past ones too) that matches. */
  waitForMessage(
    match: (m: Record<string, unknown>) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<Record<string, unknown>>
  /** The last message of this kind, if any. */
  last(event: string): Record<string, unknown> | undefined
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGKILL: no shutdown code runs, in-flight transactions die with the connection. */
  kill(): Promise<void>
  /** SIGTERM: graceful shutdown; waits for the exit. */
  stop(): Promise<void>
  stderr(): string
}

export function spawnFixture(name: string, config: Record<string, unknown>): Child {
  const file = fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url))
  const child: ChildProcess = spawn(process.execPath, [file], {
    env: { ...process.env, FIXTURE_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const messages: Record<string, unknown>[] = []
  const waiters = new Set<{ match: (m: Record<string, unknown>) => boolean; resolve: (m: any) => void }>()
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000)
    if (process.env.FIXTURE_STDERR) process.stderr.write(chunk)
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let message: Record<string, unknown>
    try {
      message = JSON.parse(line)
    } catch {
      return
    }
    messages.push(message)
    for (const w of waiters) {
      if (w.match(message)) {
        waiters.delete(w)
        w.resolve(message)
      }
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let done = false
  void exited.then(() => {
    done = true
  })
  return {
    pid: child.pid!,
    messages,
    exited,
    stderr: () => stderr,
    last: (event) => messages.findLast((m) => m.event === event),
    waitForMessage(match, timeoutMs = 60_000, from = 0) {
      const seen = messages.slice(from).find(match)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (m: Record<string, unknown>) => {
            clearTimeout(timer)
            resolve(m)
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          reject(
            new Error(`fixture ${name} (pid ${child.pid}) sent no matching message in ${timeoutMs} ms.
stderr: ${stderr.slice(-4000)}`),
          )
        }, timeoutMs)
        waiters.add(waiter)
        void exited.then(({ code, signal }) => {
          if (!waiters.has(waiter)) return
          clearTimeout(timer)
          reject(
            new Error(`fixture ${name} exited (${code ?? signal}) before the message.
stderr: ${stderr.slice(-4000)}`),
          )
        })
      })
    },
    async kill() {
      if (!done) child.kill('SIGKILL')
      await exited
    },
    async stop() {
      if (!done) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      await exited
      clearTimeout(timer)
    },
  }
}

export const uuids = (n: number): string[] => Array.from({ length: n }, () => randomUUID())

/** `perKey` points.charged events for each key, interleaved across keys; `amount` is the order per key from `from`. */
export function pointsCharged(
  keys: readonly string[],
  perKey: number,
  from = 1,
): CloudEvent<'points.charged'>[] {
  const events: CloudEvent<'points.charged'>[] = []
  let ledgerId = 0
  for (let seq = from; seq < from + perKey; seq++) {
    for (const key of keys) {
      ledgerId++
      events.push(buildEvent('points.charged', key, { userId: key, amount: seq, balance: seq, ledgerId }))
    }
  }
  return events
}

export interface EffectHandlerOptions {
  /** Time spent inside the handler's transaction after writing the effect. */
  delayMs?: number
  /** Throws (or returns an error to throw) to make an attempt fail. */
  fail?: (event: CloudEvent<'points.charged'>, attempt: number) => Error | undefined
  onEffect?: (event: CloudEvent<'points.charged'>, context: TransactionContext) => void
}

/** A points.charged handler whose effect is a conf_effects row written in the handler's transaction. */
export function effectHandler(
  group: string,
  options: EffectHandlerOptions = {},
): TransactionHandler<'points.charged'> {
  return {
    group,
    topic: 'points.charged',
    async handle(event, context) {
      const error = options.fail?.(event, context.attempt)
      if (error) throw error
      await sql`insert into conf_effects (group_id, event_id, key, seq, attempt, topic, pid)
        values (${group}, ${event.id}, ${event.subject}, ${event.data.amount}, ${context.attempt},
                ${context.record.topic}, ${process.pid})`.execute(context.tx)
      if (options.delayMs) await sleep(options.delayMs)
      options.onEffect?.(event, context)
    },
  }
}

export const TEST_RETRY_DELAYS_MS = [200, 400, 800] as const

export interface Pipeline {
  readonly runtime: ConsumerRuntime
  readonly relay: OutboxRelay
  readonly registry: Registry
}

/** Consumer runtime (started first) and outbox relay in this process, stopped when the rig closes. */
export async function startPipeline(
  rig: Rig,
  handlers: readonly EventHandler<any>[],
  options: {
    relay?: boolean
    relayBatchSize?: number
    relayIdleMs?: number
    retryDelaysMs?: readonly number[]
  } = {},
): Promise<Pipeline> {
  const registry = new Registry()
  const runtime = new ConsumerRuntime({
    db: rig.db,
    transport: rig.transport,
    logger: rig.logger,
    registry,
    immediateBackoffMs: 20,
    retryDelaysMs: options.retryDelaysMs ?? TEST_RETRY_DELAYS_MS,
  })
  for (const h of handlers) runtime.register(h)
  const relay = createOutboxRelay({
    database: rig.handle,
    transport: rig.transport,
    logger: rig.logger,
    registry,
    batchSize: options.relayBatchSize ?? 500,
    ...(options.relayIdleMs ? { idleMs: options.relayIdleMs } : {}),
  })
  await runtime.start()
  rig.defer(() => runtime.stop())
  if (options.relay !== false) {
    await relay.start()
    rig.defer(() => relay.stop())
  }
  return { runtime, relay, registry }
}

/** Sum of a counter's values whose labels match. */
export async function counterValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (!metric) return 0
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .reduce((n, v) => n + v.value, 0)
}
