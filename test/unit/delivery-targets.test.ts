// Who a notification goes to besides the inbox: a deployment channel (generic webhook, Slack, Discord) reaches
// everyone once its URL is set and no one without it, so a deployment with no channel configured reads nothing for a
// batch. On PGlite, with every statement counted.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { KyselyPlugin } from 'kysely'
import { createChannels } from '../../src/notification/channels.ts'
import { deliveryTargets } from '../../src/notification/notifications-sql.ts'
import { loadConfig } from '../../src/platform/config.ts'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { uuidv7 } from '../../src/platform/ids.ts'
import { createTestDatabase } from '../support/databases.ts'

let database: DatabaseHandle
const userId = uuidv7()

before(async () => {
  database = await createTestDatabase('pglite', 'delivery_targets')
  await database.db
    .insertInto('users')
    .values({ id: userId, email: 'fan@example.test', name: 'Fan', password_hash: 'x' })
    .execute()
})
after(() => database.close())

/** The database with every statement it runs counted. */
function counted() {
  const statements: string[] = []
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      statements.push(args.node.kind)
      return args.node
    },
    transformResult: async (args) => args.result,
  }
  return { db: database.db.withPlugin(plugin), statements }
}

test('with no channel configured a batch reads nothing and reaches no one', async () => {
  const { db, statements } = counted()
  const targets = await deliveryTargets(db, [userId], createChannels(loadConfig({})), 'payment-confirmed')
  assert.deepEqual(targets.get(userId) ?? [], [])
  assert.deepEqual(statements, [])
})

test('a deployment channel with its URL reaches the fan, one without it does not', async () => {
  const { db, statements } = counted()
  const channels = createChannels(loadConfig({ SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/slack' }))
  const targets = await deliveryTargets(db, [userId], channels, 'payment-confirmed')
  assert.deepEqual(targets.get(userId), [{ channel: 'slack', target: 'http://127.0.0.1:9/slack' }])
  assert.equal(statements.length, 1, 'the fans’ preferences, read once')
})

test('a fan who turned a configured channel off is not reached on it', async () => {
  await database.db
    .insertInto('notification_preferences')
    .values({ user_id: userId, channel: 'slack', enabled: false })
    .execute()
  const channels = createChannels(loadConfig({ SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/slack' }))
  const targets = await deliveryTargets(database.db, [userId], channels, 'payment-confirmed')
  assert.deepEqual(targets.get(userId), [])
})
