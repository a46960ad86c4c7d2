// The embedded transport's wake-up: an append notifies the groups that read its topics, so a record is delivered
// at once and not at the next poll. Polls here are a minute apart, so only the notification can deliver in time.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { TransportRecord } from '../../src/events/transport/port.ts'
import { databaseKinds } from '../support/databases.ts'
import { waitFor } from '../support/wait.ts'
import { localTransportFor, smallTopic } from './support/local.ts'

for (const kind of databaseKinds) {
  describe(`local transport wake-up on ${kind}`, () => {
    test('an append to a topic wakes the group that reads it, between two polls a minute apart', async (t) => {
      const { transport } = await localTransportFor(t, kind, 'local-wake', {
        leaseMs: 180_000,
        heartbeatMs: 60_000,
        pollMs: 60_000,
      })
      await transport.ensureTopics([smallTopic('wake.a'), smallTopic('wake.b')])
      const seen: Record<string, TransportRecord[]> = { a: [], b: [] }
      for (const name of ['a', 'b'] as const) {
        const consumer = await transport.consume({
          group: `reader-${name}`,
          topics: [`wake.${name}`],
          handle: async (record) => void seen[name]!.push(record),
        })
        t.after(() => consumer.close())
      }
      // Both groups have claimed their partitions and fetched once (nothing yet); from now on only a wake fetches.
      await new Promise((resolve) => setTimeout(resolve, 500))

      await transport.publish([{ topic: 'wake.b', key: 'k1', value: '{"n":1}' }])
      await waitFor('the record on wake.b delivered', () => seen.b!.length === 1, { timeoutMs: 20_000 })
      assert.equal(seen.a!.length, 0)

      await transport.publish([
        { topic: 'wake.a', key: 'k2', value: '{"n":2}' },
        { topic: 'wake.b', key: 'k3', value: '{"n":3}' },
      ])
      await waitFor('both groups woken by one append', () => seen.a!.length === 1 && seen.b!.length === 2, {
        timeoutMs: 20_000,
      })
      assert.deepEqual(
        seen.b!.map((r) => r.value),
        ['{"n":1}', '{"n":3}'],
      )
    })
  })
}
