import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sql } from 'kysely'
import { Registry } from 'prom-client'
import { v7 as uuidv7 } from 'uuid'
import { ConsumerRuntime } from '../../src/events/consumer-runtime.ts'
import { buildEvent } from '../../src/events/envelope.ts'
import { createLocalTransport } from '../../src/events/local-transport.ts'
import { appendToOutbox } from '../../src/events/outbox.ts'
import { createOutboxRelay } from '../../src/events/outbox-relay.ts'
import { durabilityFor, topicCatalog } from '../../src/events/topics.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createTestDatabase } from '../support/databases.ts'

test('outbox to local transport to a handler, in order per key', async () => {
  const handle = await createTestDatabase('postgres', 'localquick')
  const logger = createLogger('silent')
  const registry = new Registry()
  const transport = createLocalTransport(handle, { logger })
  await transport.ensureTopics(topicCatalog(durabilityFor(1)))
  const relay = createOutboxRelay({ database: handle, transport, logger, registry })
  const runtime = new ConsumerRuntime({ db: handle.db, transport, logger, registry })
  const seen: { user: string; amount: number }[] = []
  runtime.register({
    group: 'quick',
    topic: 'points.charged',
    async handle(event) {
      seen.push({ user: event.data.userId, amount: event.data.amount })
    },
  })
  await runtime.start()
  await relay.start()
  const users = Array.from({ length: 5 }, () => uuidv7())
  for (let i = 1; i <= 40; i++) {
    await handle.db.transaction().execute((tx) =>
      appendToOutbox(tx, [
        buildEvent('points.charged', users[i % 5]!, {
          userId: users[i % 5]!,
          amount: i,
          balance: i,
          ledgerId: i,
        }),
      ]),
    )
  }
  const started = Date.now()
  while (seen.length < 40 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 50))
  assert.equal(seen.length, 40)
  for (const u of users) {
    const amounts = seen.filter((s) => s.user === u).map((s) => s.amount)
    assert.deepEqual(
      amounts,
      [...amounts].sort((a, b) => a - b),
    )
  }
  await relay.stop()
  await runtime.stop()
  const lag = await transport.lag(runtime.subscriptions)
  assert.equal(
    lag.reduce((n, e) => n + Number(e.lag), 0),
    0,
  )
  const left = await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(handle.db)
  assert.equal(left.rows[0]!.n, 0)
  await transport.close()
  await handle.close()
})
