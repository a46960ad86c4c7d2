// Failures of the real Kafka cluster and of the relay process, end to end: outbox → relay → Kafka → runtime, with
// effects written in the handlers' transactions. Needs KAFKA_BROKERS (3 brokers); skipped without it, failed when
// TEST_KAFKA_REQUIRED=1. Brokers are killed and restarted through scripts/kafka/kafka.sh (i: a group's
// coordinator that leads a partition, iv: a group's coordinator).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Consumer, stringDeserializers } from '@platformatic/kafka'
import { sql } from 'kysely'
import { Registry } from 'prom-client'
import type { EventBackbone } from '../../src/events/backbone.ts'
import { createOutboxRelay, type OutboxRelay } from '../../src/events/outbox/relay.ts'
import { deploymentLag, lagGauges } from '../../src/ops/deployment-lag.ts'
import {
  appendEvents,
  createRigFor,
  type Delivery,
  distinctEffects,
  effectHandler,
  effectsOf,
  exactlyOnceProblems,
  openTransport,
  orderProblems,
  outboxCount,
  pointsCharged,
  spawnFixture,
  startPipeline,
  type TestCleanup,
  transportTargets,
  uuids,
  waitFor,
  waitForDrain,
} from '../events/support/index.ts'
import { createTestDatabase } from '../support/databases.ts'

const KAFKA_SH = fileURLToPath(new URL('../../scripts/kafka/kafka.sh', import.meta.url))

async function kafkaSh(...args: string[]): Promise<void> {
  await promisify(execFile)('bash', [KAFKA_SH, ...args], { timeout: 180_000 })
}

for (const target of transportTargets(['kafka'])) {
  describe('kafka failures', { skip: target.skip }, () => {
    if (target.fail) {
      test('the transport is available', () => assert.fail(target.fail))
      return
    }

    const rigFor = (t: TestCleanup, name: string) => createRigFor(target, t, name)

    test('i. a broker killed during produce-and-consume: nothing lost, no effect twice, the lag read in part meanwhile', async (t) => {
      assert.equal(target.brokers.length, 3, 'needs the 3-broker cluster')
      const rig = await rigFor(t, 'brokerkill')
      await rig.declare('points.charged')
      const group = 'survive'
      const pipeline = await startPipeline(rig, [effectHandler(group)], { relayBatchSize: 200 })
      const events = pointsCharged(uuids(30), 100)
      let produced = 0
      const producing = (async () => {
        for (let i = 0; i < events.length; i += 50) {
          await appendEvents(rig.db, events.slice(i, i + 50), 50)
          produced = i + 50
          await sleep(25) // a steady stream of business transactions, not one burst
        }
      })()
      await waitFor('the first effects', async () => (await distinctEffects(rig.db, group)) >= 500, {
        timeoutMs: 60_000,
      })
      // Who serves the lag's parts before the kill: each partition's leader, each group's coordinator (two readers
      // that never commit besides the pipeline's group).
      const lagGroups = [group, 'lag-reader-a', 'lag-reader-b'].map((g) => ({
        group: g,
        topics: ['points.charged'],
      }))
      const servers = await lagServers(target.brokers, rig.transport.ns, lagGroups)
      // The broker killed (any would do for the rest of the test) leads a partition, and coordinates some of the
      // groups but not all when their coordinators differ: the reading then loses parts of both kinds, and keeps some.
      const coordinators = new Set(servers.coordinator.values())
      const victim =
        coordinators.size > 1
          ? servers.coordinator.get('lag-reader-a')!
          : servers.leaders.find((leader) => !coordinators.has(leader))!
      assert.ok(servers.leaders.includes(victim), `broker ${victim} leads a partition of the new topic`)
      let atKill = { effects: 0, produced: 0 }
      let killedAt = 0
      try {
        await kafkaSh('stop-broker', String(victim), '--kill')
        killedAt = Date.now()
        atKill = { effects: await distinctEffects(rig.db, group), produced }
        // Until the cluster notices (about ten seconds), the dead broker still leads its partitions and coordinates its
        // groups: the console's and Prometheus's reading has the rest and says what it lacks; lag() (what drains
        // are judged on) stays all or nothing.
        const registry = new Registry()
        const backbone = { transport: rig.transport, runtime: { subscriptions: lagGroups } }
        lagGauges(backbone as unknown as EventBackbone, registry)
        const [scrape, reading] = await Promise.all([
          registry.metrics(),
          deploymentLag(backbone as unknown as EventBackbone),
          assert.rejects(rig.transport.lag(lagGroups), new RegExp(`broker ${victim}`)),
        ])
        const ledByVictim = [0, 1, 2].filter((p) => servers.leaders[p] === victim)
        const lost = (g: string) => (servers.coordinator.get(g) === victim ? [0, 1, 2] : ledByVictim)
        assert.deepEqual(
          sortedParts(reading.unknown ?? []),
          sortedParts(
            lagGroups.flatMap(({ group: g }) => lost(g).map((partition) => ({ group: g, partition }))),
          ),
        )
        assert.ok(reading.entries.length > 0, 'some of the lag was read')
        assert.deepEqual(
          sortedParts(reading.entries),
          sortedParts(
            lagGroups.flatMap(({ group: g }) =>
              [0, 1, 2].filter((p) => !lost(g).includes(p)).map((partition) => ({ group: g, partition })),
            ),
          ),
        )
        assert.match(
          reading.unavailable ?? '',
          new RegExp(`^kafka: \\d+ of 9 group partitions not read \\(.*broker ${victim}`),
        )
        assert.match(scrape, /^consumer_lag_unknown 1$/m)
        assert.equal(
          [...scrape.matchAll(/^consumer_lag\{/gm)].length,
          reading.entries.length,
          'a series for each partition read, none for the rest',
        )
        t.diagnostic(`lag read ${Date.now() - killedAt} ms after the kill: ${reading.unavailable}`)
        await producing
        await waitFor(
          `${events.length} effects with broker ${victim} down`,
          async () => (await distinctEffects(rig.db, group)) >= events.length,
          { timeoutMs: 120_000 },
        )
        await waitForDrain(rig.transport, pipeline.runtime.subscriptions, 60_000)
      } finally {
        await producing.catch(() => {})
        const restart = Date.now()
        await kafkaSh('start-broker', String(victim))
        t.diagnostic(`broker ${victim} back in every ISR ${Date.now() - restart} ms after start-broker`)
      }
      const rows = await effectsOf(rig.db, group)
      t.diagnostic(
        `broker ${victim} SIGKILLed with ${atKill.produced} of ${events.length} events committed and ${atKill.effects} applied; ` +
          `all applied ${Math.max(...rows.map((r) => r.at.getTime())) - killedAt} ms later`,
      )
      assert.ok(atKill.effects < events.length, 'the broker died mid-run')
      assert.deepEqual(
        exactlyOnceProblems(
          rows,
          events.map((e) => e.id),
        ),
        [],
      )
      assert.deepEqual(orderProblems(rows), [])
      assert.equal(await outboxCount(rig.db), 0)
    })

    test('ii. the relay SIGKILLed between publishing and deleting: a new relay publishes nothing twice', async (t) => {
      const rig = await rigFor(t, 'relaykill')
      await rig.declare('points.charged')
      const group = 'after-relay-crash'
      const deliveries: Delivery[] = []
      rig.transport.onDeliver = (d) => {
        deliveries.push(d)
      }
      const pipeline = await startPipeline(rig, [effectHandler(group)], { relay: false })
      const events = pointsCharged(uuids(40), 150)
      await appendEvents(rig.db, events, 1000)
      const onTopic = async () =>
        (await rig.transport.lag([{ group: 'nobody', topics: ['points.charged'] }])).reduce(
          (n, e) => n + e.end,
          0n,
        )

      const relayConfig = { ...rig.settings, dbUrl: rig.handle.url, batchSize: 1000 }
      // The first relay moves two batches as usual (recording where the partitions end from the brokers'
      // acknowledgements), then lingers after the third is acknowledged, so the kill lands between publish and delete.
      const first = spawnFixture('events/fixtures/relay', {
        ...relayConfig,
        holdAfterPublishMs: 3000,
        holdFromBatch: 3,
      })
      rig.defer(() => first.kill())
      await waitFor('records on the topic', async () => (await onTopic()) > 2000n, {
        intervalMs: 5,
        timeoutMs: 60_000,
      })
      await first.kill()
      const publishedByFirst = await onTopic()
      const leftInOutbox = await outboxCount(rig.db)
      assert.ok(leftInOutbox > 0, 'the relay was killed before it finished')

      const second = spawnFixture('events/fixtures/relay', relayConfig)
      rig.defer(() => second.stop())
      await waitFor('the new relay to empty the outbox', async () => (await outboxCount(rig.db)) === 0, {
        timeoutMs: 60_000,
      })
      await waitFor(
        `${events.length} effects`,
        async () => (await distinctEffects(rig.db, group)) >= events.length,
        { timeoutMs: 120_000 },
      )
      await waitForDrain(rig.transport, pipeline.runtime.subscriptions, 60_000)
      await second.stop()

      const rows = await effectsOf(rig.db, group)
      assert.deepEqual(
        exactlyOnceProblems(
          rows,
          events.map((e) => e.id),
        ),
        [],
      )
      assert.deepEqual(orderProblems(rows), [])
      // The killed relay had published its batch but not deleted it: the new relay read those records back (their
      // outbox positions) and published only the rest. Every event id is on the topic exactly once.
      const onTopicAtEnd = await onTopic()
      const consumed = deliveries.filter((d) => d.group === group && d.topic === 'points.charged')
      const idsOnTopic = new Map<string, Set<string>>()
      for (const d of consumed) {
        const at = idsOnTopic.get(d.eventId!) ?? new Set<string>()
        at.add(`${d.partition}:${d.offset}`)
        idsOnTopic.set(d.eventId!, at)
      }
      const twice = [...idsOnTopic.entries()].filter(([, at]) => at.size > 1)
      t.diagnostic(
        `relay killed with ${leftInOutbox} of ${events.length} events still in the outbox and ${publishedByFirst} ` +
          `of them on the topic; ${onTopicAtEnd} records on the topic at the end, ${consumed.length} deliveries`,
      )
      assert.ok(publishedByFirst > 0n, 'the first relay published before it was killed')
      assert.equal(
        leftInOutbox,
        events.length - 2000,
        'the kill landed after the publish and before the delete',
      )
      assert.equal(onTopicAtEnd, BigInt(events.length), 'no record published twice')
      assert.equal(idsOnTopic.size, events.length, 'every event id reached the consumer')
      assert.deepEqual(twice, [], 'an event id at two offsets')
      // Every position the relays recorded is where its partition ends now (nothing was published since).
      const bounds = await rig.transport.partitionBounds!(['points.charged'])
      const positions = await sql<{ topic: string; partition: number; next_offset: string }>`
        select topic, partition, next_offset from relay_positions`.execute(rig.db)
      assert.ok(positions.rows.length > 0, 'the relays recorded positions')
      for (const p of positions.rows)
        assert.equal(
          BigInt(p.next_offset),
          bounds.get(`${p.topic}:${p.partition}`)?.end,
          `${p.topic}:${p.partition} recorded where it ends`,
        )
    })

    test('iii. two databases relaying to the same topics: records of the other are never taken for our rows', async (t) => {
      const rig = await rigFor(t, 'twodbs')
      await rig.declare('points.charged')
      const onTopic = async () =>
        (await rig.transport.lag([{ group: 'nobody', topics: ['points.charged'] }])).reduce(
          (n, e) => n + e.end,
          0n,
        )
      const drain = async (relay: OutboxRelay) => {
        while ((await relay.relayOnce()) > 0);
      }
      // The first database's relay publishes its events (outbox rows 1..200).
      const first = pointsCharged(uuids(20), 10)
      await appendEvents(rig.db, first, 1000)
      const relayOptions = { logger: rig.logger }
      await drain(
        createOutboxRelay({
          ...relayOptions,
          registry: new Registry(),
          database: rig.handle,
          transport: rig.transport,
        }),
      )
      assert.equal(await onTopic(), BigInt(first.length))

      // A second database (another deployment on the same cluster and prefix, or this one restored from a backup):
      // its rows are numbered 1..200 too, and its relay has recorded no position, so it reads the topic back first.
      const other = await createTestDatabase('postgres', 'kafka_twodbs_other', 5)
      rig.defer(() => other.close())
      const otherTransport = await openTransport(other, rig.settings, rig.logger)
      rig.defer(() => otherTransport.close())
      const second = pointsCharged(uuids(20), 10)
      await appendEvents(other.db, second, 1000)
      const otherRelay = createOutboxRelay({
        ...relayOptions,
        registry: new Registry(),
        database: other,
        transport: otherTransport,
      })
      await drain(otherRelay)

      assert.equal(await outboxCount(other.db), 0)
      assert.equal(
        await onTopic(),
        BigInt(first.length + second.length),
        "every event of the second database was published, none deleted as the first one's",
      )
    })

    test('iv. the group coordinator leaves the cluster metadata: the member looks the coordinator up again', async (t) => {
      // @platformatic/kafka 2.12.1 forgot a coordinator only on errors that did not also say "stale metadata", and
      // "the broker is not in the metadata" says both: a member whose coordinator died after a metadata refresh kept
      // it for good, and every join, offset read and commit failed until the process restarted (patches/).
      const topic = `coordinator-failover-${randomUUID()}`
      const consumer = new Consumer({
        clientId: 'coordinator-failover',
        bootstrapBrokers: target.brokers,
        groupId: topic,
        deserializers: stringDeserializers,
        autocommit: false,
        retries: 2,
        retryDelay: 200,
      })
      t.after(() => consumer.close(true))
      const offsetsRead = () => consumer.listCommittedOffsets({ topics: [{ topic, partitions: [0] }] })
      await offsetsRead()
      const before = await consumer.findGroupCoordinator()
      try {
        await kafkaSh('stop-broker', String(before), '--kill')
        // The order that wedged the member: the metadata drops the dead broker before the next group call.
        await waitFor(
          `broker ${before} gone from the metadata`,
          async () => !(await consumer.metadata({ topics: [], forceUpdate: true })).brokers.has(before),
          { timeoutMs: 60_000 },
        )
        // The new coordinator may still be loading the group's offsets (COORDINATOR_LOAD_IN_PROGRESS): the read is
        // retried until it answers. Without the fix it never does: every attempt goes to the dead broker.
        const met = new Set<string>()
        const committed = await waitFor(
          'committed offsets read from the new coordinator',
          () =>
            offsetsRead().catch((err: Error) => {
              for (const e of causes(err)) met.add(e.apiId ?? e.message)
              return undefined
            }),
          { timeoutMs: 60_000, intervalMs: 500 },
        )
        if (met.size > 0) t.diagnostic(`met on the way: ${[...met].join('; ')}`)
        assert.equal(committed.get(topic)?.[0], -1n, 'nothing committed yet')
        assert.notEqual(await consumer.findGroupCoordinator(), before)
      } finally {
        await kafkaSh('start-broker', String(before))
      }
    })
  })
}

/**
 * The brokers that serve a lag reading of these groups on the namespaced topic: each partition's leader and each
 * group's coordinator, as the cluster says now.
 */
async function lagServers(
  brokers: string[],
  ns: string,
  groups: readonly { group: string; topics: readonly string[] }[],
): Promise<{ leaders: number[]; coordinator: Map<string, number> }> {
  const coordinator = new Map<string, number>()
  let leaders: number[] = []
  for (const { group, topics } of groups) {
    const consumer = new Consumer({
      clientId: 'lag-servers',
      bootstrapBrokers: brokers,
      groupId: `${ns}.${group}`,
      deserializers: stringDeserializers,
    })
    try {
      coordinator.set(group, await consumer.findGroupCoordinator())
      const topic = `${ns}.${topics[0]}`
      const metadata = await consumer.metadata({ topics: [topic], forceUpdate: true })
      leaders = metadata.topics.get(topic)!.partitions.map((p) => p.leader)
    } finally {
      await consumer.close(true)
    }
  }
  return { leaders, coordinator }
}

const sortedParts = (parts: readonly { group: string; partition: number }[]) =>
  parts.map((p) => `${p.group}:${p.partition}`).sort()

/** An error and the errors it aggregates, at any depth. */
function causes(error: Error & { apiId?: string }): (Error & { apiId?: string })[] {
  const nested = (error as Partial<AggregateError>).errors ?? []
  return [error, ...nested.flatMap((e: Error) => causes(e))]
}
