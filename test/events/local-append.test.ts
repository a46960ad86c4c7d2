// The embedded log's append, one statement for a whole batch: each record lands at the next offset of its partition,
// in the batch's order, with its key, value and headers exactly as given, whatever characters they hold; the relay's
// outbox rows go over inside the database, each event as its row wrote it.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { Registry } from 'prom-client'
import { createOutboxRelay, ID_HEADER } from '../../src/events/outbox/relay.ts'
import { partitionFor } from '../../src/events/transport/partitioner.ts'
import type { OutgoingRecord } from '../../src/events/transport/port.ts'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { databaseKinds } from '../support/databases.ts'
import { localTransportFor, smallTopic } from './support/local.ts'

/** Values an array literal or a JSON text could mangle: quotes, backslashes, braces, commas, NULL, non-ASCII. */
const awkward = [
  '"quoted"',
  'back\\slash',
  '{a,b}',
  'NULL',
  '',
  ' spaced ',
  '한국어 공연 🎫',
  'new\nline',
  "it's",
]

/** Every record of the log, in partition order. */
async function logRecords(handle: DatabaseHandle) {
  const { rows } = await sql<{
    topic: string
    partition: number
    offset: string
    key: string
    value: string
    headers: Record<string, string>
  }>`select topic, partition, "offset"::text as "offset", key, value, headers from event_log
      order by topic, partition, event_log."offset"`.execute(handle.db)
  return rows
}

for (const kind of databaseKinds) {
  describe(`local transport append on ${kind}`, () => {
    test('a batch over two topics lands at consecutive offsets per partition, in order, byte for byte', async (t) => {
      const { handle, transport } = await localTransportFor(t, kind, 'local-append', {})
      await transport.ensureTopics([smallTopic('append.a'), smallTopic('append.b')])
      const batch = (round: number): OutgoingRecord[] =>
        Array.from({ length: 40 }, (_, i) => ({
          topic: i % 3 === 0 ? 'append.b' : 'append.a',
          key: `key-${i % 7}${awkward[i % awkward.length]}`,
          value: JSON.stringify({ round, i, text: awkward[i % awkward.length] }),
          headers: { 'outbox-id': `${round}-${i}`, note: awkward[(i + 1) % awkward.length]! },
        }))
      const sent = [...batch(1), ...batch(2)]
      await transport.publish(batch(1))
      await transport.publish(batch(2))

      const rows = await logRecords(handle)
      assert.equal(rows.length, sent.length)
      // Per partition: offsets 0, 1, 2, … and the records in the order they were sent.
      const byPartition = new Map<string, OutgoingRecord[]>()
      for (const r of sent) {
        const at = `${r.topic}/${partitionFor(r.key, 2)}`
        byPartition.set(at, [...(byPartition.get(at) ?? []), r])
      }
      for (const [at, expected] of byPartition) {
        const got = rows.filter((r) => `${r.topic}/${r.partition}` === at)
        assert.deepEqual(
          got.map((r) => Number(r.offset)),
          expected.map((_, i) => i),
          `offsets of ${at}`,
        )
        assert.deepEqual(
          got.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
          expected.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
          `records of ${at}`,
        )
      }
      const ends = await sql<{ topic: string; partition: number; next_offset: string }>`
        select topic, partition, next_offset::text as next_offset from event_partitions
         where topic like 'append.%' order by topic, partition`.execute(handle.db)
      for (const e of ends.rows)
        assert.equal(Number(e.next_offset), byPartition.get(`${e.topic}/${e.partition}`)?.length ?? 0)
    })

    test('the relay moves outbox rows to the log inside the database: each event as its row wrote it, in order', async (t) => {
      const { handle, transport } = await localTransportFor(t, kind, 'local-append-relay', {})
      await transport.ensureTopics([smallTopic('append.a'), smallTopic('append.b')])
      const events = Array.from({ length: 30 }, (_, i) => ({
        id: crypto.randomUUID(),
        topic: i % 4 === 0 ? 'append.b' : 'append.a',
        key: `key-${i % 5}${awkward[i % awkward.length]}`,
        event: { i, text: awkward[i % awkward.length], nested: { list: [1, 'two', null], 'key "q"': '\\' } },
      }))
      for (const e of events)
        await sql`insert into outbox (id, topic, key, event)
                  values (${e.id}::uuid, ${e.topic}, ${e.key}, ${JSON.stringify(e.event)}::jsonb)`.execute(
          handle.db,
        )
      // What a relay that read each event out sent: the event as the database writes it out.
      const written = await sql<{
        id: string
        text: string
      }>`select id::text, event::text as text from outbox`.execute(handle.db)
      const texts = new Map(written.rows.map((r) => [r.id, r.text]))
      const relay = createOutboxRelay({
        database: handle,
        transport,
        logger: createLogger('silent'),
        registry: new Registry(),
      })
      assert.equal(await relay.relayOnce(), events.length)

      const rows = await logRecords(handle)
      assert.equal(rows.length, events.length)
      for (const topic of ['append.a', 'append.b'])
        for (const partition of [0, 1]) {
          const expected = events.filter((e) => e.topic === topic && partitionFor(e.key, 2) === partition)
          const got = rows.filter((r) => r.topic === topic && r.partition === partition)
          assert.deepEqual(
            got.map((r) => ({
              offset: Number(r.offset),
              key: r.key,
              value: r.value,
              id: r.headers[ID_HEADER],
            })),
            expected.map((e, i) => ({ offset: i, key: e.key, value: texts.get(e.id), id: e.id })),
            `records of ${topic}/${partition}`,
          )
          for (const r of got)
            assert.deepEqual(JSON.parse(r.value), events.find((e) => e.id === r.headers[ID_HEADER])!.event)
        }
      const left = await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(handle.db)
      assert.equal(left.rows[0]!.n, 0)
    })

    test('an append from an outbox row that is not there fails whole: nothing lands, no offset moves', async (t) => {
      const { handle, transport } = await localTransportFor(t, kind, 'local-append-missing', {})
      await transport.ensureTopics([smallTopic('append.a')])
      const id = crypto.randomUUID()
      await sql`insert into outbox (id, topic, key, event) values (${id}::uuid, 'append.a', 'k', '{"a":1}'::jsonb)`.execute(
        handle.db,
      )
      const { rows: outbox } = await sql<{ seq: string }>`select seq::text from outbox`.execute(handle.db)
      await assert.rejects(
        handle.db.transaction().execute((tx) =>
          transport.publishWithin!(tx, [
            { seq: outbox[0]!.seq, topic: 'append.a', key: 'k' },
            { seq: Number(outbox[0]!.seq) + 1000, topic: 'append.a', key: 'k' },
          ]),
        ),
        /appended 1 of 2 records/,
      )
      const log = await sql<{ n: number }>`select count(*)::int as n from event_log`.execute(handle.db)
      assert.equal(log.rows[0]!.n, 0)
      const ends = await sql<{
        n: number
      }>`select coalesce(sum(next_offset), 0)::int as n from event_partitions
                                             where topic = 'append.a'`.execute(handle.db)
      assert.equal(ends.rows[0]!.n, 0)
    })
  })
}
