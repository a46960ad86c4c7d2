// The relay's outbox gauges on a scrape: what they say, and what reading them costs the database.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type KyselyPlugin, sql } from 'kysely'
import { Registry } from 'prom-client'
import { createOutboxRelay } from '../../src/events/outbox/relay.ts'
import { createLocalTransport } from '../../src/events/transport/local/transport.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createTestDatabase } from '../support/databases.ts'

test('a scrape reads the outbox once for both of its gauges (backlog and oldest age)', async (t) => {
  const database = await createTestDatabase('pglite', 'outbox-gauges')
  t.after(() => database.close())
  await sql`insert into outbox (id, topic, key, event, created_at)
            select gen_random_uuid(), 'reservation.held', 'k' || i, '{}'::jsonb, now() - interval '30 seconds'
              from generate_series(1, 3) as i`.execute(database.db)
  // Every statement the relay runs goes through this plugin: a count over a real database, not a stand-in.
  let statements = 0
  const counting: KyselyPlugin = {
    transformQuery: (args) => {
      statements++
      return args.node
    },
    transformResult: async (args) => args.result,
  }
  const handle = { ...database, db: database.db.withPlugin(counting) }
  const logger = createLogger('silent')
  const registry = new Registry()
  createOutboxRelay({
    database: handle,
    transport: createLocalTransport(handle, { logger }),
    logger,
    registry,
  })

  for (let scrape = 1; scrape <= 2; scrape++) {
    const before = statements
    const text = await registry.metrics()
    assert.equal(statements - before, 1, `scrape ${scrape}: one read of the outbox`)
    assert.match(text, /^outbox_backlog 3$/m)
    const age = Number(/^outbox_oldest_age_seconds (\S+)$/m.exec(text)?.[1])
    assert.ok(age >= 30 && age < 120, `oldest age ${age} s`)
  }
})
