// The embedded transport's heartbeat rounds: an instance's groups, started at different moments and woken by their
// own appends, come to beat together, one statement for all of them, and keep their leases while they do.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import type { ConsumerHandle } from '../../src/events/transport/port.ts'
import { databaseKinds } from '../support/databases.ts'
import { waitFor } from '../support/wait.ts'
import { localTransportFor, smallTopic } from './support/local.ts'

const GROUPS = 6

for (const kind of databaseKinds) {
  describe(`local transport heartbeat rounds on ${kind}`, () => {
    test(`${GROUPS} groups started apart come to beat in one statement, and keep their partitions`, async (t) => {
      const { handle, transport } = await localTransportFor(t, kind, 'local-heartbeat', {
        leaseMs: 3_000,
        heartbeatMs: 300,
      })
      const names = Array.from({ length: GROUPS }, (_, i) => `beat.${i}`)
      await transport.ensureTopics(names.map(smallTopic))
      const handled: number[] = Array.from({ length: GROUPS }, () => 0)
      const consumers: ConsumerHandle[] = []
      for (const [i, name] of names.entries()) {
        consumers.push(
          await transport.consume({
            group: `beater-${i}`,
            topics: [name],
            handle: async () => void handled[i]!++,
          }),
        )
        t.after(() => consumers[i]!.close())
        // Started a third of a beat apart, so each first beats on its own.
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      // Appends wake some groups between their beats, which moves their loops off the others' rhythm.
      for (let n = 0; n < 5; n++) {
        await transport.publish(
          names.filter((_, i) => i % 2 === n % 2).map((name) => ({ topic: name, key: `k${n}`, value: '{}' })),
        )
        await new Promise((resolve) => setTimeout(resolve, 70))
      }
      await waitFor('every record handled', () => handled.reduce((a, b) => a + b, 0) === 15, {
        timeoutMs: 20_000,
      })

      // Rows written by one statement carry the same now(): the members beat together once their heartbeat_at agree.
      const beats = async () =>
        (
          await sql<{ group_id: string; heartbeat_at: Date }>`
            select group_id, heartbeat_at from consumer_members order by group_id`.execute(handle.db)
        ).rows
      let seen: { group_id: string; heartbeat_at: Date }[] = []
      await waitFor(
        `the ${GROUPS} groups beating in one statement`,
        async () => {
          seen = await beats()
          return seen.length === GROUPS && new Set(seen.map((r) => r.heartbeat_at.getTime())).size === 1
        },
        {
          timeoutMs: 15_000,
          describe: async () => seen.map((r) => `${r.group_id} ${r.heartbeat_at.toISOString()}`),
        },
      )
      // And they go on beating (the time moves) with every partition leased to its group.
      const first = seen[0]!.heartbeat_at.getTime()
      await waitFor(
        'a later round',
        async () => (await beats()).every((r) => r.heartbeat_at.getTime() > first),
        {
          timeoutMs: 10_000,
        },
      )
      const leases = await sql<{ n: number }>`select count(*)::int as n from consumer_leases`.execute(
        handle.db,
      )
      assert.equal(leases.rows[0]!.n, GROUPS * 2)
      for (const consumer of consumers) assert.equal(consumer.assignments().length, 2)
    })
  })
}
