import assert from 'node:assert/strict'
import { test } from 'node:test'
import { produceRequests } from '../../src/events/transport/kafka/produce-requests.ts'
import { partitionFor } from '../../src/events/transport/partitioner.ts'
import type { OutgoingRecord } from '../../src/events/transport/port.ts'

const record = (topic: string, key: string, seq: number, size = 400): OutgoingRecord => ({
  topic,
  key,
  value: JSON.stringify({ seq, pad: 'x'.repeat(size) }),
  headers: { 'outbox-id': `id-${seq}` },
})

test('records of one key beyond the limit go in consecutive requests, in their order, none over the limit', () => {
  const records = Array.from({ length: 3_000 }, (_, i) => record('coupon', 'one-coupon', i))
  const requests = produceRequests(records, () => 12, 100_000)
  assert.ok(requests.length >= 13, `${requests.length} requests for ~1.3 MB of one partition`)
  assert.deepEqual(
    requests.flat().map((p) => p.record),
    records,
    'every record once, in order',
  )
  for (const [i, request] of requests.entries()) {
    const bytes = request.reduce((n, p) => n + p.bytes, 0)
    assert.ok(bytes <= 100_000, `a request carries ${bytes} bytes for the partition`)
    if (i < requests.length - 1) assert.ok(bytes > 100_000 - 600, 'filled before the next one starts')
  }
  assert.ok(
    requests.flat().every((p) => p.partition === partitionFor('one-coupon', 12)),
    'the partition is the one partitionFor gives',
  )
})

test('records spread over partitions stay in one request while no partition passes the limit', () => {
  const records = Array.from({ length: 2_000 }, (_, i) => record(`t${i % 2}`, `user-${i % 500}`, i))
  const counts = { t0: 6, t1: 3 } as Record<string, number>
  const requests = produceRequests(records, (topic) => counts[topic]!)
  assert.equal(requests.length, 1, '2,000 records of ~0.5 KB over 9 partitions fit one request')
  for (const p of requests[0]!) assert.equal(p.partition, partitionFor(p.record.key, counts[p.record.topic]!))
})

test('a record larger than the limit goes alone', () => {
  const records = [record('t', 'a', 0), record('t', 'a', 1, 5_000), record('t', 'a', 2)]
  const requests = produceRequests(records, () => 1, 1_000)
  assert.deepEqual(
    requests.map((r) => r.map((p) => JSON.parse(p.record.value).seq)),
    [[0], [1], [2]],
  )
})
