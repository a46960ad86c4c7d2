import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { buildEvent } from '../../src/events/envelope.ts'
import { insertDeadLetter } from '../../src/events/runtime/dead-letter-store.ts'
import type { Db } from '../../src/platform/db.ts'
import { Receiver } from '../side-effects/support/receiver.ts'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import { adminHeaders, charge, createSchedule, holdSeat, signUp } from '../support/flows.ts'
import { counterValue } from '../support/metrics.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

const count = async (db: Db, table: string, where = sql`true`) =>
  (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where ${where}`.execute(db))
    .rows[0]!.n

// Ages in seconds: the whole service runs (relay, every consumer group on the embedded log, webhooks, retention).
for (const kind of databaseKinds) {
  describe(`retention [${kind}]`, () => {
    let t: TestApp
    let hook: Receiver
    before(async () => {
      hook = await Receiver.start()
      t = await startTestApp(
        kind,
        'retention',
        {
          WEBHOOKS_ALLOW_PRIVATE: 'true',
          WEBHOOK_POLL_MS: 100,
          HOLD_TTL_SECONDS: 600,
          RETENTION_INTERVAL_MS: 200,
          RETENTION_BATCH_SIZE: 7,
          RETENTION_PROCESSED_EVENTS_SECONDS: 2,
          RETENTION_IDEMPOTENCY_KEYS_SECONDS: 2,
          RETENTION_NOTIFICATIONS_SECONDS: 2,
          RETENTION_WEBHOOK_DELIVERIES_SECONDS: 2,
          RETENTION_PHONE_VERIFICATIONS_SECONDS: 1,
          RETENTION_DEAD_LETTERS_REPLAYED_SECONDS: 1,
          RETENTION_DEAD_LETTERS_SECONDS: 6,
          RETENTION_EVENT_LOG_SECONDS: 2,
        },
        { background: true },
      )
    })
    after(async () => {
      await t.close()
      await hook.close()
    })

    test('old rows of every table are pruned in batches; records a group has not consumed stay; metrics say what went', async () => {
      const api = new Api(t.url)
      const db = t.app.database.db
      const admin = adminHeaders(t.adminKey)
      const endpoint = await api.post('/admin/webhooks/endpoints', {
        headers: admin,
        body: { url: hook.url('/hook'), eventTypes: ['points.charged', 'reservation.held'] },
      })
      assert.equal(endpoint.status, 201)

      // Traffic: charges (idempotency keys, events, processed ids, webhook deliveries), a coupon notification...
      const fans = await Promise.all([signUp(api), signUp(api), signUp(api)])
      for (const fan of fans) await charge(api, fan, 1000)
      const coupon = await api.post('/admin/coupons', {
        headers: admin,
        body: { name: 'retention', discountType: 'fixed', discountValue: 10, totalQuantity: 5 },
      })
      for (const fan of fans) await api.post(`/coupons/${coupon.body.id}/requests`, { token: fan.token })
      // ... a hold nobody pays, whose reservation.held the expiration group keeps uncommitted until its deadline ...
      const show = await createSchedule(api, t.adminKey, { seats: 1 })
      const [holder] = await seedAdmittedFans(db, {
        count: 1,
        points: 0,
        secret: t.app.config.AUTH_SECRET!,
        scheduleId: show.scheduleId,
      })
      const held = await holdSeat(api, holder!, show.scheduleId, show.seatIds[0]!, holder!.queueToken)
      assert.equal(held.status, 201)
      // ... a dead letter replayed and one left dead, and an expired phone code.
      const replayable = buildEvent('points.charged', fans[0]!.id, {
        userId: fans[0]!.id,
        amount: 1,
        balance: 1,
        ledgerId: 1,
      })
      const dead = (value: string, offset: string) =>
        insertDeadLetter(db, {
          group: 'retention-test',
          origin: { topic: 'points.charged', partition: 0, offset },
          key: fans[0]!.id,
          value,
          error: 'test',
          attempts: 1,
          firstFailedAt: new Date(),
          lastFailedAt: new Date(),
        })
      await dead(JSON.stringify(replayable), '900001')
      await dead('not an event', '900002')
      const deadAt = Date.now()
      const [toReplay] = await db
        .selectFrom('dead_letters')
        .select('id')
        .where('original_offset', '=', '900001')
        .execute()
      assert.equal(
        (await api.post('/admin/dead-letters/replay', { headers: admin, body: { ids: [toReplay!.id] } }))
          .status,
        202,
      )
      await db
        .insertInto('phone_verifications')
        .values({
          id: randomUUID(),
          user_id: fans[1]!.id,
          phone_number: '+821040000001',
          code: '123456',
          expires_at: new Date(Date.now() - 1000),
        })
        .execute()

      await waitFor(
        'the traffic was handled',
        async () => (await count(db, 'webhook_deliveries', sql`status = 'succeeded'`)) >= 4,
      )
      assert.ok((await count(db, 'processed_events')) > 0)
      assert.ok((await count(db, 'notifications')) > 0)

      await waitFor(
        'everything old enough pruned',
        async () =>
          (await count(db, 'processed_events', sql`group_id <> 'hold-expiration'`)) === 0 &&
          (await count(db, 'idempotency_keys')) === 0 &&
          (await count(db, 'notifications')) === 0 &&
          (await count(db, 'webhook_deliveries')) === 0 &&
          (await count(db, 'phone_verifications')) === 0 &&
          (await count(db, 'dead_letters', sql`status = 'replayed'`)) === 0 &&
          (await count(db, 'event_log', sql`topic = 'points.charged'`)) === 0,
        {
          timeoutMs: 30_000,
          describe: async () =>
            Object.fromEntries(
              await Promise.all(
                [
                  'processed_events',
                  'idempotency_keys',
                  'notifications',
                  'webhook_deliveries',
                  'dead_letters',
                  'event_log',
                ].map(async (table) => [table, await count(db, table)]),
              ),
            ),
        },
      )
      if (Date.now() - deadAt < 5000) {
        assert.equal(
          await count(db, 'dead_letters', sql`status = 'dead'`),
          1,
          'a dead letter outlives a replayed one',
        )
      }
      await waitFor(
        'the dead letter pruned after its longer age',
        async () => (await count(db, 'dead_letters')) === 0,
      )
      assert.equal(await count(db, 'webhook_attempts'), 0, 'attempts went with their deliveries')

      // The hold's event stays in the log: the expiration group has not committed it (it waits for the deadline).
      const heldRows = await sql<{
        value: string
      }>`select value from event_log where topic = 'reservation.held'`.execute(db)
      assert.ok(
        heldRows.rows.some((r) => r.value.includes(held.body.id)),
        'a record not yet consumed by every group is kept',
      )
      // Business rows are untouched.
      assert.equal(await count(db, 'reservations', sql`status = 'held'`), 1)
      assert.equal(await count(db, 'wallet_ledger'), 3)

      const registry = t.app.metrics.registry
      for (const rule of [
        'processed_events',
        'idempotency_keys',
        'notifications',
        'webhook_deliveries',
        'phone_verifications',
        'dead_letters.replayed',
        'dead_letters.dead',
        'event_log',
      ]) {
        assert.ok((await counterValue(registry, 'retention_pruned_rows_total', { rule })) > 0, rule)
      }
      const metrics = await api.get('/metrics')
      assert.match(metrics.body, /retention_pruned_rows_total\{rule="event_log"\} [1-9]/)
    })
  })

  describe(`outbox leftovers [${kind}]`, () => {
    let t: TestApp
    before(async () => {
      // No relay anywhere: what is committed stays in the outbox.
      t = await startTestApp(kind, 'retention_outbox', {
        ROLES: 'api,workers',
        RETENTION_INTERVAL_MS: 200,
        RETENTION_OUTBOX_ALERT_SECONDS: 1,
      })
    })
    after(() => t.close())

    test('events no relay published are reported, never deleted', async () => {
      const api = new Api(t.url)
      const fan = await signUp(api)
      await charge(api, fan, 500)
      const db = t.app.database.db
      const before = await count(db, 'outbox')
      assert.ok(before > 0)
      await waitFor('the stale events reported', async () => {
        const m = await api.get('/metrics')
        return /outbox_unpublished_stale_events [1-9]/.test(m.body)
      })
      assert.equal(await count(db, 'outbox'), before, 'nothing was deleted')
    })
  })
}
