import { randomBytes } from 'node:crypto'
import type { EventType } from '../../../src/events/event-types.ts'
import { durabilityFor, topicCatalog } from '../../../src/events/topics.ts'
import type { DatabaseHandle, Db } from '../../../src/platform/db.ts'
import type { Logger } from '../../../src/platform/logger.ts'
import { createTestDatabase } from '../../support/databases.ts'
import type { TransportTarget } from '../../support/transports.ts'
import { createEffectTables } from './effects.ts'
import {
  openTransport,
  type TestTransport,
  type TransportSettings,
  testLogger,
} from './namespaced-transport.ts'

/**
 * Partitions of the event topics these tests declare. More than the service's default of one: what the tests check
 * (keys spread over partitions, members splitting them and taking them over) needs several.
 */
export const CONFORMANCE_PARTITIONS = 3

/** The topic specs of these event types (the type, its retry stages and its dead letters), for this cluster. */
export function topicsOf(types: readonly EventType[], brokers: number) {
  return topicCatalog(durabilityFor(brokers), CONFORMANCE_PARTITIONS).filter((spec) =>
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
