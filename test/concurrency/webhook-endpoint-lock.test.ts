import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { v7 as uuidv7 } from 'uuid'
import { createWebhookWorker } from '../../src/webhooks/deliver-webhooks.ts'
import { Receiver } from '../side-effects/support/receiver.ts'
import { captureLogger } from '../support/capture-logger.ts'
import { createTestDatabase } from '../support/databases.ts'
import { openTransaction, withoutWaitingForLocks } from '../support/locks.ts'
import { waitFor } from '../support/wait.ts'

// A failed send is recorded under a lock on its endpoint's row, so that the endpoint's failures take turns on its
// failing_since and disabling. The fan-out groups meanwhile record new deliveries for that endpoint, whose foreign
// key takes FOR KEY SHARE on the same row (for a whole batch of events): neither may wait for the other. PostgreSQL
// only: PGlite has one connection.
test("a failed delivery is recorded beside a batch that holds its endpoint's row for a foreign key [postgres]", async (t) => {
  const database = await createTestDatabase('postgres', 'webhook_endpoint_lock', 4)
  t.after(() => database.close())
  const failing = await Receiver.start({ respond: () => ({ status: 503, body: { error: 'busy' } }) })
  t.after(() => failing.close())

  const endpointId = uuidv7()
  const deliveryId = uuidv7()
  await database.db
    .insertInto('webhook_endpoints')
    .values({
      id: endpointId,
      url: failing.url('/hooks'),
      event_types: ['reservation.held'],
      secret: 'whsec_test',
    })
    .execute()
  await database.db
    .insertInto('webhook_deliveries')
    .values({
      id: deliveryId,
      endpoint_id: endpointId,
      event_id: uuidv7(),
      event_type: 'reservation.held',
      payload: '{}',
    })
    .execute()

  // What recording a new delivery for the endpoint takes on its row, in a transaction still open.
  const batch = await openTransaction(
    database.pool!,
    'select 1 from webhook_endpoints where id = $1 for key share',
    [endpointId],
  )
  const { logger, lines } = captureLogger('error')
  const errors = () => lines.map((line) => JSON.parse(line).err?.message ?? line)
  try {
    await withoutWaitingForLocks(database.db, async (connection) => {
      const worker = createWebhookWorker({
        db: connection,
        logger,
        registry: new Registry(),
        settings: {
          concurrency: 4,
          perEndpoint: 2,
          pollMs: 50,
          timeoutMs: 2_000,
          retry: { baseMs: 60_000, maxDelayMs: 60_000 },
          retryForSeconds: 3_600,
          disableAfterSeconds: 3_600,
          policy: { allowPrivate: true },
        },
      })
      worker.start()
      try {
        // The send's outcome is either recorded or its recording failed (a lock waited past the timeout).
        await waitFor(
          'the failed send recorded, or its recording failed',
          async () =>
            lines.length > 0 ||
            (await connection
              .selectFrom('webhook_deliveries')
              .select('attempts')
              .where('id', '=', deliveryId)
              .executeTakeFirstOrThrow()
              .then((d) => d.attempts > 0)),
          { timeoutMs: 20_000, intervalMs: 20 },
        )
      } finally {
        await worker.stop()
      }
    })
  } finally {
    await batch.rollback()
  }
  assert.deepEqual(errors(), [], 'the recording waited for the lock')
  const delivery = await database.db
    .selectFrom('webhook_deliveries')
    .select(['attempts', 'status', 'last_status_code'])
    .where('id', '=', deliveryId)
    .executeTakeFirstOrThrow()
  assert.deepEqual(delivery, { attempts: 1, status: 'pending', last_status_code: 503 })
  const endpoint = await database.db
    .selectFrom('webhook_endpoints')
    .select(['enabled', 'failing_since'])
    .where('id', '=', endpointId)
    .executeTakeFirstOrThrow()
  assert.equal(endpoint.enabled, true)
  assert.ok(endpoint.failing_since, 'the endpoint is marked failing')
})
