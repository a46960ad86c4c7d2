import type { TestContext } from 'node:test'
import {
  createLocalTransport,
  type LocalTransportOptions,
} from '../../../src/events/transport/local/transport.ts'
import type { EventTransport, TopicSpec } from '../../../src/events/transport/port.ts'
import type { DatabaseHandle } from '../../../src/platform/db.ts'
import { createLogger } from '../../../src/platform/logger.ts'
import { createTestDatabase, type DatabaseKind } from '../../support/databases.ts'

/** A topic of two partitions, one copy: what the embedded log's own tests publish to. */
export const smallTopic = (name: string): TopicSpec => ({
  name,
  partitions: 2,
  replicationFactor: 1,
  minInsyncReplicas: 1,
  retentionMs: 0,
})

/** An embedded transport on a fresh database of `kind`, with the test's timings; both closed after the test. */
export async function localTransportFor(
  t: TestContext,
  kind: DatabaseKind,
  name: string,
  timings: Omit<LocalTransportOptions, 'logger'>,
): Promise<{ handle: DatabaseHandle; transport: EventTransport }> {
  const handle = await createTestDatabase(kind, name)
  t.after(() => handle.close())
  const transport = createLocalTransport(handle, { logger: createLogger('silent'), ...timings })
  t.after(() => transport.close())
  return { handle, transport }
}
