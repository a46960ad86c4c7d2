// The event transport contract, run the same way on every transport: `local` (the embedded log on a real Postgres
// database) and `kafka` (the real 3-broker cluster of KAFKA_BROKERS). Each test gets a fresh database and its own
// topics and consumer groups: the transport is wrapped so that `points.charged` is `<ns>.points.charged` on the
// wire (see `namespaced` in support.ts); the relay, the runtime, retry topics, dead letters and replay above it are
// the production code, unchanged.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import { buildEvent, type CloudEvent } from '../../src/events/envelope.ts'
import type { EventHandler } from '../../src/events/index.ts'
import { ID_HEADER } from '../../src/events/outbox/relay.ts'
import { replayDeadLetters } from '../../src/events/runtime/dead-letter-store.ts'
import { consumedTopics, deadLetterTopic } from '../../src/events/topics.ts'
import { partitionFor } from '../../src/events/transport/partitioner.ts'
import type { TransportRecord } from '../../src/events/transport/port.ts'
import { NonRetryableError } from '../../src/platform/errors.ts'
import {
  appendEvents,
  type Child,
  CONFORMANCE_PARTITIONS,
  counterValue,
  createRigFor,
  type Delivery,
  distinctEffects,
  effectHandler,
  effectsOf,
  exactlyOnceProblems,
  orderProblems,
  outboxCount,
  percentile,
  pointsCharged,
  settledEffects,
  spawnFixture,
  startPipeline,
  TEST_RETRY_DELAYS_MS,
  type TestCleanup,
  topicsOf,
  transportTargets,
  uuids,
  waitFor,
  waitForDrain,
} from './support/index.ts'

/** The partitions of points.charged, the topic these tests publish to (the rig declares it with these). */
const PARTITIONS = CONFORMANCE_PARTITIONS
const MAIN_AND_RETRY_PARTITIONS = topicsOf(['points.charged'], 1)
  .filter((spec) => consumedTopics('points.charged').includes(spec.name))
  .reduce((n, spec) => n + spec.partitions, 0)

/** The partitions a consumer fixture last said it owns (`topic:partition`). */
const ownedBy = (child: Child): string[] => (child.last('assigned')?.partitions ?? []) as string[]

for (const target of transportTargets()) {
  describe(`event transport conformance: ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('the transport is available', () => assert.fail(target.fail))
      return
    }

    const rigFor = (t: TestCleanup, name: string) => createRigFor(target, t, name)

    test('a. 600 events over 12 keys: each has one effect, in order per key, keys in parallel', async (t) => {
      const rig = await rigFor(t, 'order')
      await rig.declare('points.charged')
      const inFlight = new Set<string>()
      let overlapSameKey = 0
      let maxParallel = 0
      // Keys in flight together are handled concurrently, or together in one transaction (a batch).
      const keysByTransaction = new WeakMap<object, Set<string>>()
      let maxKeysInOneTransaction = 0
      const handler = effectHandler('order', { delayMs: 2 })
      const inner = handler.handle
      handler.handle = async (event, context) => {
        if (inFlight.has(event.subject)) overlapSameKey++
        inFlight.add(event.subject)
        maxParallel = Math.max(maxParallel, inFlight.size)
        const together = keysByTransaction.get(context.tx) ?? new Set<string>()
        together.add(event.subject)
        keysByTransaction.set(context.tx, together)
        maxKeysInOneTransaction = Math.max(maxKeysInOneTransaction, together.size)
        try {
          await inner(event, context)
        } finally {
          inFlight.delete(event.subject)
        }
      }
      const pipeline = await startPipeline(rig, [handler])
      const keys = uuids(12)
      const events = pointsCharged(keys, 50)
      await appendEvents(rig.db, events, 25)

      const ids = events.map((e) => e.id)
      const { rows, problems } = await settledEffects(
        rig.db,
        rig.transport,
        'order',
        ids,
        pipeline.runtime.subscriptions,
      )
      assert.deepEqual(problems, [])
      assert.deepEqual(orderProblems(rows), [])
      assert.equal(overlapSameKey, 0, 'two records of one key ran at the same time')
      assert.ok(
        maxParallel > 1 || maxKeysInOneTransaction > 1,
        `keys never ran in parallel (max ${maxParallel} at once, ${maxKeysInOneTransaction} in one transaction)`,
      )
      assert.ok(new Set(keys.map((k) => partitionFor(k, PARTITIONS))).size > 1, 'keys spread over partitions')
      assert.equal(await outboxCount(rig.db), 0)
    })

    test('a2. a handler out of key order: 300 events of one key go together into transactions, each effect once', async (t) => {
      const rig = await rigFor(t, 'unordered')
      await rig.declare('points.charged')
      const eventsByTransaction = new WeakMap<object, number>()
      let mostInOneTransaction = 0
      const handler = { ...effectHandler('unordered'), inKeyOrder: false }
      const inner = handler.handle
      handler.handle = async (event, context) => {
        const n = (eventsByTransaction.get(context.tx) ?? 0) + 1
        eventsByTransaction.set(context.tx, n)
        mostInOneTransaction = Math.max(mostInOneTransaction, n)
        await inner(event, context)
      }
      const pipeline = await startPipeline(rig, [handler])
      // One key: the whole stream is one partition's, as a first-come coupon's requests are.
      const events = pointsCharged(uuids(1), 300)
      await appendEvents(rig.db, events, 300)
      const ids = events.map((e) => e.id)
      const { problems } = await settledEffects(
        rig.db,
        rig.transport,
        'unordered',
        ids,
        pipeline.runtime.subscriptions,
      )
      assert.deepEqual(problems, [])
      assert.ok(mostInOneTransaction > 1, 'records of the one key never went together')
    })

    test('b. a consumer killed before committing: records come again, each effect stays single', async (t) => {
      const rig = await rigFor(t, 'crash')
      await rig.declare('points.charged')
      const pipeline = await startPipeline(rig, [])
      const events = pointsCharged(uuids(12), 40)
      await appendEvents(rig.db, events)
      await waitFor('the outbox relayed', async () => (await outboxCount(rig.db)) === 0)
      await pipeline.relay.stop()

      const group = rig.childGroup('crash')
      const config = { ...rig.settings, dbUrl: rig.handle.url, group, handlerDelayMs: 25 }
      const first = spawnFixture('events/fixtures/consumer', config)
      rig.defer(() => first.kill())
      await waitFor('a quarter of the effects', async () => (await distinctEffects(rig.db, group)) >= 120, {
        timeoutMs: 60_000,
      })
      await first.kill()
      const atKill = await distinctEffects(rig.db, group)
      assert.ok(atKill < events.length, 'killed mid-stream')

      const second = spawnFixture('events/fixtures/consumer', config)
      rig.defer(() => second.stop())
      const ids = events.map((e) => e.id)
      const subscription = [{ group, topics: consumedTopics('points.charged') }]
      const { rows, problems } = await settledEffects(rig.db, rig.transport, group, ids, subscription, 90_000)
      assert.deepEqual(problems, [])
      assert.deepEqual(orderProblems(rows), [])
      const again = await sql<{ event_id: string; n: number; pids: number }>`
        select event_id, count(*)::int as n, count(distinct pid)::int as pids from conf_deliveries
        where group_id = ${group} group by event_id having count(*) > 1`.execute(rig.db)
      const acrossRestart = again.rows.filter((r) => r.pids > 1).length
      t.diagnostic(
        `${target.kind}: ${atKill} effects at SIGKILL; ${again.rows.length} records delivered more than once ` +
          `(${acrossRestart} of them to both processes)`,
      )
      assert.ok(acrossRestart > 0, 'no record was delivered again after the crash')
      await second.stop()
    })

    test('c. two consumers share a group; one is killed, the survivor takes its partitions; nothing lost', async (t) => {
      const rig = await rigFor(t, 'rebalance')
      await rig.declare('points.charged')
      const group = rig.childGroup('shared')
      const config = { ...rig.settings, dbUrl: rig.handle.url, group, handlerDelayMs: 25 }
      const a = spawnFixture('events/fixtures/consumer', config)
      const b = spawnFixture('events/fixtures/consumer', config)
      rig.defer(() => a.kill())
      rig.defer(() => b.stop())
      const owns = (m: Record<string, unknown>) =>
        m.event === 'assigned' && (m.partitions as string[]).length > 0
      await Promise.all([a.waitForMessage(owns), b.waitForMessage(owns)])
      // Both own a share, and between them every partition: only then is there something to take over.
      await waitFor('the two members to split the partitions', () => {
        const [pa, pb] = [ownedBy(a), ownedBy(b)]
        return pa.length > 0 && pb.length > 0 && new Set([...pa, ...pb]).size === MAIN_AND_RETRY_PARTITIONS
      })

      const pipeline = await startPipeline(rig, [])
      const keys = uuids(18)
      const events = pointsCharged(keys, 40)
      await appendEvents(rig.db, events)
      const split = `a owns ${ownedBy(a).join(' ')}; b owns ${ownedBy(b).join(' ')}`
      // The kill comes early in the killed member's share: each key's 40 records take a member at least a second
      // (25 ms each, one at a time), so it leaves work in its partitions for the survivor to take over. Waiting for a
      // count of effects over both members instead could let a member with few keys finish its share first.
      const effectsBy = async () => {
        const r = await sql<{ pid: number; n: number }>`
          select pid, count(*)::int as n from conf_effects where group_id = ${group} group by pid`.execute(
          rig.db,
        )
        return new Map(r.rows.map((x) => [x.pid, x.n]))
      }
      await waitFor(`both members to apply effects (${split})`, async () => {
        const by = await effectsBy()
        return (by.get(a.pid) ?? 0) >= 10 && (by.get(b.pid) ?? 0) > 0
      })
      const ownedByA = ownedBy(a).filter((p) => p.startsWith('points.charged:'))
      const fromKill = b.messages.length
      await a.kill()
      const killedAt = new Date()
      const inSharesOfA = events.filter((e) =>
        ownedByA.includes(`points.charged:${partitionFor(e.subject, PARTITIONS)}`),
      ).length
      const doneByA = (await effectsBy()).get(a.pid) ?? 0
      assert.ok(
        doneByA < inSharesOfA,
        `the killed member left work: ${doneByA} of its ${inSharesOfA} records done`,
      )

      const takeover = await b.waitForMessage(
        (m) => m.event === 'assigned' && (m.partitions as string[]).length === MAIN_AND_RETRY_PARTITIONS,
        60_000,
        fromKill,
      )
      assert.ok(takeover, 'the survivor owns every partition')
      // The survivor works on what the killed member left before anyone else joins: a member joining first could be
      // handed those partitions back before the survivor's first fetch from them (on Kafka that fetch can wait up
      // to 2 s behind the one in flight), and the takeover would go unseen. The wait fails the test if it never
      // comes (deliveries are never deleted, so a check at the end could not fail after it).
      await waitFor(
        'the survivor consuming a partition the killed member owned',
        async () => {
          const r = await sql<{ partition: number }>`
            select distinct partition from conf_deliveries
            where pid = ${b.pid} and topic = 'points.charged' and at > ${killedAt}`.execute(rig.db)
          return r.rows.some((x) => ownedByA.includes(`points.charged:${x.partition}`))
        },
        { timeoutMs: 60_000 },
      )
      // A restarted member joins: the survivor hands part of its partitions over (a rebalance without a crash).
      const c = spawnFixture('events/fixtures/consumer', config)
      rig.defer(() => c.stop())
      await c.waitForMessage(owns)
      // More work after the rebalance, so the restarted member has its share to do.
      const wave = pointsCharged(keys, 10, 41)
      events.push(...wave)
      await appendEvents(rig.db, wave)
      const ids = events.map((e) => e.id)
      const subscription = [{ group, topics: consumedTopics('points.charged') }]
      const { rows, problems } = await settledEffects(rig.db, rig.transport, group, ids, subscription, 90_000)
      await pipeline.relay.stop()
      assert.deepEqual(problems, [])
      assert.deepEqual(orderProblems(rows), [])
      const perPid = await sql<{ pid: number; n: number }>`
        select pid, count(*)::int as n from conf_effects group by pid order by pid`.execute(rig.db)
      t.diagnostic(
        `${target.kind}: effects per process ${perPid.rows.map((r) => `${r.pid === a.pid ? 'killed' : r.pid === b.pid ? 'survivor' : 'restarted'}=${r.n}`).join(' ')}; ` +
          `killed member owned ${ownedByA.join(' ')}; restarted member got ${ownedBy(c).length} partitions`,
      )
      assert.ok(
        perPid.rows.some((r) => r.pid === c.pid && r.n > 0),
        'the restarted member applied effects',
      )
      await Promise.all([b.stop(), c.stop()])
    })

    test('d. a failing handler succeeds later: by immediate retries, then by retry topics, once', async (t) => {
      const rig = await rigFor(t, 'retry')
      await rig.declare('points.charged')
      const [k1, k2, k3] = uuids(3) as [string, string, string]
      const [e1] = pointsCharged([k1], 1) as [CloudEvent<'points.charged'>]
      const [e2, e4] = pointsCharged([k2], 2) as [CloudEvent<'points.charged'>, CloudEvent<'points.charged'>]
      const [e3] = pointsCharged([k3], 1) as [CloudEvent<'points.charged'>]
      // e1: fails twice (immediate retries suffice); e2: fails 3 times (one retry topic); e3: 6 times (two stages).
      const failures = new Map([
        [e1.id, 2],
        [e2.id, 3],
        [e3.id, 6],
      ])
      const attempts: { id: string; attempt: number; at: number }[] = []
      const handler = effectHandler('retry', {
        fail: (event, attempt) => {
          const fail = attempt <= (failures.get(event.id) ?? 0)
          attempts.push({ id: event.id, attempt, at: Date.now() })
          return fail ? new Error(`temporary failure ${attempt}`) : undefined
        },
      })
      const deliveries: Delivery[] = []
      rig.transport.onDeliver = (d) => {
        deliveries.push(d)
      }
      // Stage 1 waits a full second: longer than any publish to the retry topic, so e4 (queued behind e2 until
      // e2 is on its retry topic) has run before e2 is due again, on every transport.
      const delays = [1_000, 400, 800]
      const pipeline = await startPipeline(rig, [handler], { retryDelaysMs: delays })
      await appendEvents(rig.db, [e1, e2, e3, e4])
      const ids = [e1, e2, e3, e4].map((e) => e.id)
      const { rows, problems } = await settledEffects(
        rig.db,
        rig.transport,
        'retry',
        ids,
        pipeline.runtime.subscriptions,
        30_000,
      )
      assert.deepEqual(problems, [])
      const effect = (id: string) => rows.find((r) => r.event_id === id)!
      assert.deepEqual(
        [e1, e2, e3, e4].map((e) => [effect(e.id).attempt, effect(e.id).topic]),
        [
          [3, 'points.charged'],
          [4, 'points.charged.retry.1'],
          [7, 'points.charged.retry.2'],
          [1, 'points.charged'],
        ],
      )
      assert.equal(await counterValue(pipeline.registry, 'events_retried_total', { stage: '1' }), 2)
      assert.equal(await counterValue(pipeline.registry, 'events_retried_total', { stage: '2' }), 1)
      assert.equal(await counterValue(pipeline.registry, 'events_retried_total', { stage: '3' }), 0)
      assert.equal(await counterValue(pipeline.registry, 'events_dead_lettered_total'), 0)
      // Non-blocking: e4 (same key, after e2) was handled while e2 waited on its retry topic.
      assert.ok(
        effect(e4.id).id < effect(e2.id).id,
        `the record after a retried one was held up: ${JSON.stringify({ attempts, deliveries: deliveries.map((d) => [d.eventId, d.topic, d.at]) })}`,
      )
      // Each stage waits its delay before the next try.
      const timeOf = (id: string, attempt: number) =>
        attempts.find((a) => a.id === id && a.attempt === attempt)!.at
      assert.ok(timeOf(e2.id, 4) - timeOf(e2.id, 3) >= delays[0]!)
      assert.ok(timeOf(e3.id, 7) - timeOf(e3.id, 6) >= delays[1]!)
      assert.equal(
        (await sql<{ n: number }>`select count(*)::int as n from dead_letters`.execute(rig.db)).rows[0]!.n,
        0,
      )
    })

    test('e. poison records go to the dead letters without stalling; replayed after a fix, they apply once', async (t) => {
      const rig = await rigFor(t, 'poison')
      await rig.declare('points.charged')
      const deliveries: Delivery[] = []
      rig.transport.onDeliver = (d) => {
        deliveries.push(d)
      }
      const [k1, k2] = uuids(2) as [string, string]
      const [bad1, bad2] = [
        ...pointsCharged([k1], 1),
        ...pointsCharged([k2], 1),
      ] as CloudEvent<'points.charged'>[]
      const after = [...pointsCharged([k1, k2], 5)].map((e) => ({
        ...e,
        data: { ...e.data, amount: e.data.amount + 1 },
      }))
      let broken = true
      const handler = effectHandler('poison', {
        fail: (event) => {
          if (!broken) return undefined
          if (event.id === bad1!.id) return new NonRetryableError('the partner refused this record')
          if (event.id === bad2!.id) return new Error('the partner keeps timing out')
          return undefined
        },
      })
      const pipeline = await startPipeline(rig, [handler])
      const dlqSeen: TransportRecord[] = []
      const dlqReader = await rig.transport.consume({
        group: 'dlq-reader',
        topics: [deadLetterTopic('points.charged')],
        async handle(record) {
          dlqSeen.push(record)
        },
      })
      rig.defer(() => dlqReader.close())
      await appendEvents(rig.db, [bad1!, bad2!, ...after])
      // A record that is not even JSON, on k1's partition: dead-lettered at once, not replayable.
      await rig.transport.publish([{ topic: 'points.charged', key: k1, value: 'not json {' }])

      const deadRows = () =>
        sql<{
          id: string
          group_id: string
          original_topic: string
          original_partition: number
          original_offset: string
          key: string
          event_id: string | null
          error: string
          attempts: number
          first_failed_at: Date
          last_failed_at: Date
          status: string
        }>`select * from dead_letters order by created_at`.execute(rig.db)
      await waitFor('3 dead letters', async () => (await deadRows()).rows.length >= 3, { timeoutMs: 30_000 })
      await waitFor(
        'the records after the poison',
        async () => (await distinctEffects(rig.db, 'poison')) >= 10,
      )
      const dead = (await deadRows()).rows
      const effectsBeforeReplay = await effectsOf(rig.db, 'poison')
      assert.deepEqual(
        exactlyOnceProblems(
          effectsBeforeReplay,
          after.map((e) => e.id),
        ),
        [],
      )
      assert.deepEqual(orderProblems(effectsBeforeReplay.map((r) => ({ ...r, seq: r.seq - 1 }))), [])

      const origin = (id: string | undefined) =>
        deliveries.find((d) => d.eventId === id && d.topic === 'points.charged' && d.group === 'poison')!
      const d1 = dead.find((d) => d.event_id === bad1!.id)!
      const d2 = dead.find((d) => d.event_id === bad2!.id)!
      const d3 = dead.find((d) => d.event_id === null)!
      for (const [row, event, key] of [
        [d1, bad1!, k1],
        [d2, bad2!, k2],
      ] as const) {
        const first = origin(event.id)
        assert.deepEqual(
          [
            row.group_id,
            row.original_topic,
            row.original_partition,
            row.original_offset,
            row.key,
            row.status,
          ],
          ['poison', 'points.charged', partitionFor(key, PARTITIONS), first.offset.toString(), key, 'dead'],
        )
        assert.equal(first.partition, row.original_partition)
        assert.ok(row.first_failed_at.getTime() <= row.last_failed_at.getTime())
      }
      assert.match(d1.error, /NonRetryableError: the partner refused this record/)
      assert.equal(d1.attempts, 1, 'a non-retryable failure is not retried')
      assert.match(d2.error, /Error: the partner keeps timing out/)
      assert.equal(d2.attempts, 3 * (1 + TEST_RETRY_DELAYS_MS.length), 'every immediate try of every stage')
      const retryWait = TEST_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0)
      assert.ok(
        d2.last_failed_at.getTime() - d2.first_failed_at.getTime() >= retryWait,
        'the retry stages waited their delays',
      )
      assert.match(d3.error, /not JSON/)
      assert.equal(d3.key, k1)
      // No stall: everything after the poison on its key was applied before the retryable one was given up.
      const lastAfter = Math.max(...effectsBeforeReplay.map((r) => r.at.getTime()))
      assert.ok(lastAfter < d2.last_failed_at.getTime(), 'later records waited for the poison')

      await waitFor('3 records on the .dlq topic', () => dlqSeen.length >= 3)
      const onDlq = dlqSeen.find((r) => r.value.includes(bad2!.id))!
      assert.equal(onDlq.headers['x-original-topic'], 'points.charged')
      assert.equal(onDlq.headers['x-original-offset'], d2.original_offset)
      assert.equal(onDlq.headers['x-attempts'], String(d2.attempts))

      // The fix ships; the operator replays what can be replayed.
      await assert.rejects(replayDeadLetters(rig.db, [d3.id]), /not JSON/)
      broken = false
      assert.deepEqual(
        (await replayDeadLetters(rig.db, [d1.id, d2.id])).replayed.sort(),
        [d1.id, d2.id].sort(),
      )
      const ids = [bad1!, bad2!, ...after].map((e) => e.id)
      const { problems } = await settledEffects(
        rig.db,
        rig.transport,
        'poison',
        ids,
        pipeline.runtime.subscriptions,
        30_000,
      )
      assert.deepEqual(problems, [])
      const statuses = (await deadRows()).rows.map((r) => `${r.event_id ?? 'raw'}:${r.status}`).sort()
      assert.deepEqual(statuses, [`${bad1!.id}:replayed`, `${bad2!.id}:replayed`, 'raw:dead'].sort())
      await assert.rejects(replayDeadLetters(rig.db, [d1.id]), /already replayed/)
    })

    test('f. the same event id published twice has one effect', async (t) => {
      const rig = await rigFor(t, 'dup')
      await rig.declare('points.charged')
      const deliveries: Delivery[] = []
      rig.transport.onDeliver = (d) => {
        deliveries.push(d)
      }
      const pipeline = await startPipeline(rig, [effectHandler('dup')])
      const [key] = uuids(1) as [string]
      const [event, other] = pointsCharged([key], 2) as [
        CloudEvent<'points.charged'>,
        CloudEvent<'points.charged'>,
      ]
      const record = { topic: 'points.charged', key, value: JSON.stringify(event) }
      await appendEvents(rig.db, [event])
      await rig.transport.publish([record, record])
      await appendEvents(rig.db, [other])
      await rig.transport.publish([record])

      await waitFor(
        '4 deliveries of the event',
        () => deliveries.filter((d) => d.eventId === event.id).length >= 4,
      )
      await waitFor('the next event', async () => (await distinctEffects(rig.db, 'dup')) >= 2)
      await waitForDrain(rig.transport, pipeline.runtime.subscriptions)
      const rows = await effectsOf(rig.db, 'dup')
      assert.deepEqual(exactlyOnceProblems(rows, [event.id, other.id]), [])
      // Every delivery but the first of each event was recognised as a duplicate.
      const delivered = deliveries.filter((d) => d.group === 'dup').length
      assert.ok(deliveries.filter((d) => d.eventId === event.id).length >= 4)
      assert.equal(await counterValue(pipeline.registry, 'events_handled_total', { outcome: 'done' }), 2)
      assert.equal(
        await counterValue(pipeline.registry, 'events_handled_total', { outcome: 'duplicate' }),
        delivered - 2,
      )
    })

    test('g. delayed delivery: never before its time, late by little, and other work is not held up', async (t) => {
      const rig = await rigFor(t, 'delayed')
      await rig.declare('reservation.held', 'points.charged')
      const COUNT = 300
      const due = new Map<string, number>()
      const delayed = new Map<string, number>()
      const immediate = new Map<string, number>()
      const appendedAt = new Map<string, number>()
      const expiry: EventHandler<'reservation.held'> = {
        group: 'expiry',
        topic: 'reservation.held',
        // as the hold-expiration handler: the pending records wait parked until due
        keyConcurrency: 100_000,
        deliverAt: (event) => new Date(event.data.expiresAt),
        async handle(event, { tx }) {
          delayed.set(event.id, Date.now())
          await sql`insert into conf_effects (group_id, event_id, key, seq, attempt, topic, pid)
            values ('expiry', ${event.id}, ${event.subject}, 1, 1, 'reservation.held', ${process.pid})`.execute(
            tx,
          )
        },
      }
      const heldNotify: EventHandler<'reservation.held'> = {
        group: 'held-notify',
        topic: 'reservation.held',
        async handle(event) {
          immediate.set(`held:${event.id}`, Date.now())
        },
      }
      const pointsHandler: EventHandler<'points.charged'> = {
        group: 'points',
        topic: 'points.charged',
        async handle(event) {
          immediate.set(`points:${event.id}`, Date.now())
        },
      }
      const pipeline = await startPipeline(rig, [expiry, heldNotify, pointsHandler])

      const start = Date.now()
      const held = Array.from({ length: COUNT }, () => {
        const [reservationId, scheduleId, seatId, userId] = uuids(4) as [string, string, string, string]
        const expiresAt = start + 1_000 + Math.floor(Math.random() * 2_000)
        const event = buildEvent('reservation.held', reservationId, {
          reservationId,
          scheduleId,
          seatId,
          userId,
          price: 100,
          expiresAt: new Date(expiresAt).toISOString(),
        })
        due.set(event.id, expiresAt)
        return event
      })
      const points = pointsCharged(uuids(20), 5)
      await appendEvents(rig.db, held)
      for (const e of held) appendedAt.set(`held:${e.id}`, Date.now())
      await appendEvents(rig.db, points)
      for (const e of points) appendedAt.set(`points:${e.id}`, Date.now())
      const latestDue = Math.max(...due.values())

      // What waits for its time is on the metrics meanwhile (parked in the dispatcher, not in a handler).
      const waiting = () => counterValue(pipeline.registry, 'events_waiting_for_due', { group: 'expiry' })
      let mostWaiting = 0
      await waitFor(
        `${COUNT} delayed events`,
        async () => {
          mostWaiting = Math.max(mostWaiting, await waiting())
          return delayed.size >= COUNT
        },
        { timeoutMs: latestDue - Date.now() + 10_000 },
      )
      await waitFor('the immediate work', () => immediate.size >= COUNT + points.length)
      await waitForDrain(rig.transport, pipeline.runtime.subscriptions)

      assert.ok(
        mostWaiting > 0 && mostWaiting <= COUNT,
        `records waiting for their time: at most ${mostWaiting}`,
      )
      assert.equal(await waiting(), 0, 'none waits once every one was handled')
      const lateness = [...delayed].map(([id, at]) => at - due.get(id)!)
      const early = lateness.filter((l) => l < 0)
      assert.deepEqual(early, [], 'delayed events handled before their time')
      assert.ok(Math.max(...lateness) < 10_000, 'every delayed event handled within 10 s of its time')
      const rows = await effectsOf(rig.db, 'expiry')
      assert.deepEqual(exactlyOnceProblems(rows, [...due.keys()]), [])
      // The database clock agrees: no effect committed before its time.
      assert.ok(rows.every((r) => r.at.getTime() >= due.get(r.event_id)! - 5))

      const lastImmediate = Math.max(...immediate.values())
      const stillWaiting = [...delayed.values()].filter((at) => at > lastImmediate).length
      const immediateLatency = [...immediate].map(([id, at]) => at - appendedAt.get(id)!)
      t.diagnostic(
        `${target.kind}: delayed-delivery lateness over ${COUNT} events: p50 ${percentile(lateness, 50)} ms, ` +
          `p99 ${percentile(lateness, 99)} ms, max ${Math.max(...lateness)} ms; immediate work (same topic other ` +
          `group, other topic) latency p50 ${percentile(immediateLatency, 50)} ms, max ${Math.max(...immediateLatency)} ms, ` +
          `all done ${lastImmediate - start} ms after start with ${stillWaiting} delayed events still waiting`,
      )
      assert.ok(stillWaiting > 0, 'the immediate work waited for the delayed work')
    })

    test('h. commits that land while the relay is publishing are relayed at once, not at its idle poll', async (t) => {
      const rig = await rigFor(t, 'wake')
      await rig.declare('points.charged')
      const handled = new Map<string, number>()
      // An idle poll of a minute: only NOTIFY can explain a prompt relay.
      await startPipeline(rig, [effectHandler('wake', { onEffect: (e) => handled.set(e.id, Date.now()) })], {
        relayIdleMs: 60_000,
      })
      const events = pointsCharged(uuids(10), 30)
      const started = Date.now()
      // 30 transactions of 10, back to back: most commit while the relay is busy with an earlier one.
      await appendEvents(rig.db, events, 10)
      await waitFor('every event relayed and handled', () => handled.size >= events.length, {
        timeoutMs: 20_000,
      })
      t.diagnostic(
        `${target.kind}: 300 events in 30 transactions handled ${Math.max(...handled.values()) - started} ms after the first commit`,
      )
    })

    test('j. an outbox row of a topic the relay does not know waits for a relay that does, and holds up nothing', async (t) => {
      const rig = await rigFor(t, 'unknown')
      await rig.declare('points.charged')
      // A newer version's event type during a rolling upgrade, committed before everything else.
      await sql`insert into outbox (id, topic, key, event)
        values (gen_random_uuid(), 'ticket.from-the-future', 'k', '{"id": "x"}'::jsonb)`.execute(rig.db)
      const pipeline = await startPipeline(rig, [effectHandler('unknown')], {
        relayTopics: ['points.charged'],
      })
      const events = pointsCharged(uuids(4), 10)
      await appendEvents(rig.db, events)
      await waitFor(
        'every known event handled',
        async () => (await distinctEffects(rig.db, 'unknown')) >= 40,
        {
          timeoutMs: 30_000,
        },
      )
      const left = await sql<{ topic: string }>`select topic from outbox`.execute(rig.db)
      assert.deepEqual(
        left.rows.map((r) => r.topic),
        ['ticket.from-the-future'],
      )
      assert.equal(await pipeline.relay.relayOnce(), 0, 'the unknown row is not published')
    })

    test('k. a record carries its event as committed: every character of the value, the id and the traceparent', async (t) => {
      const rig = await rigFor(t, 'carried')
      await rig.declare('points.charged')
      const records = new Map<string, TransportRecord>()
      await startPipeline(rig, [
        effectHandler('carried', { onEffect: (e, c) => records.set(e.id, c.record) }),
      ])
      // Keys (the events' subjects) with what a value must carry unchanged: quotes, backslashes, Korean, an emoji, a
      // tab; every other event with a traceparent.
      const keys = [
        'plain',
        'quote " and \\" and \\\\',
        '김민지 공연 티켓',
        'emoji 🎫 tab\t end',
        '{"json": [1]}',
      ]
      const events = keys.map((key, i) =>
        buildEvent(
          'points.charged',
          key,
          { userId: uuids(1)[0]!, amount: i + 1, balance: i + 1, ledgerId: i + 1 },
          i % 2 === 0 ? { traceparent: `00-${'ab'.repeat(16)}-${String(i).padStart(16, '0')}-01` } : {},
        ),
      )
      await appendEvents(rig.db, events)
      await waitFor('every event handled', () => records.size >= events.length, { timeoutMs: 20_000 })
      for (const event of events) {
        const record = records.get(event.id)!
        assert.deepEqual(JSON.parse(record.value), event, `the value of ${event.subject}`)
        assert.equal(record.key, event.subject)
        assert.equal(record.headers[ID_HEADER], event.id)
        assert.equal(record.headers['content-type'], 'application/cloudevents+json')
        assert.equal(record.headers.traceparent, event.traceparent, `the traceparent of ${event.subject}`)
      }
    })

    test('i. a transient database error while dead-lettering delays the partition, it does not stall it for good', async (t) => {
      const rig = await rigFor(t, 'stall')
      await rig.declare('points.charged')
      // The fault, injected into the real database: the first write to dead_letters fails (a lost connection,
      // a failover, a full disk); a sequence counts the tries because it survives the rollback.
      await sql`create sequence dead_letter_writes`.execute(rig.db)
      await sql`create function fail_first_dead_letter() returns trigger language plpgsql as $$
          begin
            if nextval('dead_letter_writes') = 1 then raise exception 'injected: dead_letters write failed'; end if;
            return new;
          end $$`.execute(rig.db)
      await sql`create trigger fail_first_dead_letter before insert on dead_letters
          for each row execute function fail_first_dead_letter()`.execute(rig.db)
      const [key] = uuids(1) as [string]
      const [poison, ...later] = pointsCharged([key], 6) as CloudEvent<'points.charged'>[]
      const pipeline = await startPipeline(rig, [
        effectHandler('stall', {
          fail: (e) => (e.id === poison!.id ? new NonRetryableError('refused') : undefined),
        }),
      ])
      await appendEvents(rig.db, [poison!])
      await waitFor('the failed dead-letter write', async () => {
        const r = await sql<{ n: number }>`select last_value::int as n from dead_letter_writes`.execute(
          rig.db,
        )
        return r.rows[0]!.n >= 1
      })
      await appendEvents(rig.db, later)
      await waitFor(
        'the records after the poison, once the database is back',
        async () => (await distinctEffects(rig.db, 'stall')) >= later.length,
        { timeoutMs: 15_000 },
      )
      await waitForDrain(rig.transport, pipeline.runtime.subscriptions)
      const dead = await sql<{ event_id: string }>`select event_id from dead_letters`.execute(rig.db)
      assert.deepEqual(
        dead.rows.map((r) => r.event_id),
        [poison!.id],
      )
    })
  })
}
