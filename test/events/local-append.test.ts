// The embedded log's append, one statement for a whole batch: each record lands at the next offset of its partition,
// in the batch's order, with its key, value and headers exactly as given, whatever characters they hold.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { partitionFor } from '../../src/events/transport/partitioner.ts'
import type { OutgoingRecord } from '../../src/events/transport/port.ts'
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

      const { rows } = await sql<{
        topic: string
        partition: number
        offset: string
        key: string
        value: string
        headers: Record<string, string>
      }>`select topic, partition, "offset"::text as "offset", key, value, headers from event_log
          order by topic, partition, event_log."offset"`.execute(handle.db)
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
  })
}
