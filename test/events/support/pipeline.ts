import { Registry } from 'prom-client'
import type { EventHandler } from '../../../src/events/index.ts'
import { createOutboxRelay, type OutboxRelay } from '../../../src/events/outbox/relay.ts'
import { ConsumerRuntime, type RuntimeOptions } from '../../../src/events/runtime/consumer-runtime.ts'
import type { Rig } from './rig.ts'

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
    relayTopics?: readonly string[]
    retryDelaysMs?: readonly number[]
    fans?: RuntimeOptions['fans']
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
    fans: options.fans,
  })
  for (const h of handlers) runtime.register(h)
  const relay = createOutboxRelay({
    database: rig.handle,
    transport: rig.transport,
    logger: rig.logger,
    registry,
    batchSize: options.relayBatchSize ?? 500,
    ...(options.relayIdleMs ? { idleMs: options.relayIdleMs } : {}),
    ...(options.relayTopics ? { topics: options.relayTopics } : {}),
  })
  await runtime.start()
  rig.defer(() => runtime.stop())
  if (options.relay !== false) {
    await relay.start()
    rig.defer(() => relay.stop())
  }
  return { runtime, relay, registry }
}
