// The partitions the service gives the event topics it creates: EVENT_PARTITIONS (one by default) for each event
// topic, one for each retry and dead-letter topic; a topic that exists keeps the partitions it has.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { eventTypes } from '../../src/events/event-types.ts'
import { deadLetterTopic, retryTopic } from '../../src/events/topics.ts'
import { databaseKinds } from '../support/databases.ts'
import { startTestApp } from '../support/test-app.ts'

const types = Object.keys(eventTypes)

for (const kind of databaseKinds) {
  describe(`event topic partitions on ${kind}`, () => {
    async function partitionsAfterStart(t: { after(fn: () => Promise<void>): void }, overrides = {}) {
      const app = await startTestApp(kind, 'topic_partitions', overrides, { background: true })
      t.after(() => app.close())
      const { rows } = await sql<{ topic: string; n: number }>`
        select topic, count(*)::int as n from event_partitions group by topic`.execute(app.app.database.db)
      return new Map(rows.map((r) => [r.topic, r.n]))
    }

    test('one partition per event topic by default, one per retry and dead-letter topic', async (t) => {
      const partitions = await partitionsAfterStart(t)
      for (const type of types) {
        assert.equal(partitions.get(type), 1, type)
        assert.equal(partitions.get(retryTopic(type, 1)), 1, retryTopic(type, 1))
        assert.equal(partitions.get(deadLetterTopic(type)), 1, deadLetterTopic(type))
      }
    })

    test('EVENT_PARTITIONS=4: four per event topic, still one per retry and dead-letter topic', async (t) => {
      const partitions = await partitionsAfterStart(t, { EVENT_PARTITIONS: 4 })
      for (const type of types) {
        assert.equal(partitions.get(type), 4, type)
        assert.equal(partitions.get(retryTopic(type, 3)), 1, retryTopic(type, 3))
        assert.equal(partitions.get(deadLetterTopic(type)), 1, deadLetterTopic(type))
      }
    })
  })
}
