// The partitions the service gives the event topics it creates: EVENT_PARTITIONS (one by default) for each event
// topic, one for each retry and dead-letter topic; a topic that exists keeps the partitions it has (on Kafka:
// test/kafka/kafka-transport.test.ts).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { eventTypes } from '../../src/events/event-types.ts'
import { deadLetterTopic, retryTopic } from '../../src/events/topics.ts'
import { createLocalTransport } from '../../src/events/transport/local/transport.ts'
import { captureLogger } from '../support/capture-logger.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'
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

for (const kind of databaseKinds) {
  test(`the embedded log on ${kind}: a topic that exists keeps its partitions when more or fewer are declared, and says so`, async (t) => {
    const handle = await createTestDatabase(kind, 'topic_partitions_kept')
    t.after(() => handle.close())
    const { logger, lines } = captureLogger('info')
    const transport = createLocalTransport(handle, { logger })
    t.after(() => transport.close())
    const spec = { replicationFactor: 1, minInsyncReplicas: 1, retentionMs: 0 }
    await transport.ensureTopics([{ name: 'kept', partitions: 1, ...spec }])
    await transport.ensureTopics([
      { name: 'kept', partitions: 4, ...spec },
      { name: 'new', partitions: 3, ...spec },
    ])
    const { rows } = await sql<{ topic: string; n: number }>`
      select topic, count(*)::int as n from event_partitions group by topic order by topic`.execute(handle.db)
    assert.deepEqual(
      rows.map((r) => [r.topic, r.n]),
      [
        ['kept', 1],
        ['new', 3],
      ],
    )
    // A topic created now is not reported; one that differs is, once per declaration.
    assert.equal(lines.filter((l) => l.includes('partitions than declared')).length, 1)
    const fewer = lines.filter((l) => l.includes('topics with fewer partitions than declared'))
    assert.deepEqual(JSON.parse(fewer[0]!).topics, ['kept (1 of 4)'])
    await transport.ensureTopics([{ name: 'new', partitions: 2, ...spec }])
    const more = lines.filter((l) => l.includes('topics with more partitions than declared'))
    assert.deepEqual(JSON.parse(more[0]!).topics, ['new (3, declared 2)'])

    // Its records all go to the one partition it has, keys as many as they like.
    await transport.publish(
      Array.from({ length: 20 }, (_, i) => ({ topic: 'kept', key: `key-${i}`, value: '{}', headers: {} })),
    )
    const { rows: spread } = await sql<{ partition: number }>`
      select distinct partition from event_log where topic = 'kept'`.execute(handle.db)
    assert.deepEqual(
      spread.map((r) => r.partition),
      [0],
    )
  })
}
