// Side effects no fan waits for yield to the fans' operations in flight (FanLoad): a handler with yieldsToFans waits
// while the fans keep the instance busy, the others do not, and a busy spell holds it back for the runtime's yieldMs
// at most; a delayed handler with fetchYieldsToFans fetches nothing new meanwhile but handles what falls due. Each effect still happens once. Run on every transport, with the production runtime over the real relay.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { FanLoad } from '../../src/platform/fan-load.ts'
import {
  appendEvents,
  counterValue,
  createRigFor,
  distinctEffects,
  effectHandler,
  effectsOf,
  exactlyOnceProblems,
  pointsCharged,
  startPipeline,
  transportTargets,
  uuids,
  waitFor,
} from './support/index.ts'

const BUSY_AT = 4
const QUIET_MS = 50

for (const target of transportTargets()) {
  describe(`side effects yield to fans: ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('the transport is available', () => assert.fail(target.fail))
      return
    }

    /** A pipeline with a yielding and a plain group on points.charged, and the fans' load they see. */
    async function yieldingPipeline(t: Parameters<typeof createRigFor>[1], name: string, yieldMs: number) {
      const rig = await createRigFor(target, t, name)
      await rig.declare('points.charged')
      const load = new FanLoad(BUSY_AT, QUIET_MS)
      const pipeline = await startPipeline(
        rig,
        [{ ...effectHandler('yields'), yieldsToFans: true }, effectHandler('goes')],
        { fans: { load, yieldMs } },
      )
      const events = pointsCharged(uuids(8), 5)
      return { rig, load, pipeline, events, ids: events.map((e) => e.id) }
    }

    test('while the fans are busy the yielding group waits and the other goes; then it catches up, once each', async (t) => {
      const { rig, load, pipeline, events, ids } = await yieldingPipeline(t, 'yield-busy', 60_000)
      for (let i = 0; i < BUSY_AT; i++) load.enter()
      await appendEvents(rig.db, events)

      await waitFor(
        'the plain group handled every event',
        async () => (await distinctEffects(rig.db, 'goes')) === 40,
      )
      await sleep(300)
      assert.equal(
        await distinctEffects(rig.db, 'yields'),
        0,
        'the yielding group ran while the fans were busy',
      )

      for (let i = 0; i < BUSY_AT; i++) load.leave()
      await waitFor(
        'the yielding group caught up',
        async () => (await distinctEffects(rig.db, 'yields')) === 40,
      )
      assert.deepEqual(exactlyOnceProblems(await effectsOf(rig.db, 'yields'), ids), [])
      assert.equal(await counterValue(pipeline.registry, 'events_yielded_to_fans_total'), 1)
      assert.ok((await counterValue(pipeline.registry, 'events_yielded_to_fans_seconds_total')) >= 0.3)

      // Not busy: the yielding group goes at once.
      const more = pointsCharged(uuids(4), 1)
      await appendEvents(rig.db, more)
      await waitFor('the next events handled', async () => (await distinctEffects(rig.db, 'yields')) === 44, {
        timeoutMs: 10_000,
      })
      assert.equal(await counterValue(pipeline.registry, 'events_yielded_to_fans_total'), 1)
    })

    test('while the yielding group waits it fetches nothing more: what comes meanwhile stays in the log', async (t) => {
      const rig = await createRigFor(target, t, 'yield-fetch')
      await rig.declare('points.charged')
      const load = new FanLoad(BUSY_AT, QUIET_MS)
      const received = new Map<string, Set<string>>()
      rig.transport.onDeliver = (d) => {
        const ids = received.get(d.group) ?? new Set<string>()
        ids.add(d.eventId!)
        received.set(d.group, ids)
      }
      // Every key its own and many keys at once: each record fetched is handed on at once, so received is fetched.
      await startPipeline(
        rig,
        [{ ...effectHandler('yields'), yieldsToFans: true, keyConcurrency: 256 }, effectHandler('goes')],
        { fans: { load, yieldMs: 60_000 } },
      )
      for (let i = 0; i < BUSY_AT; i++) load.enter()
      const before = pointsCharged(uuids(40), 1)
      await appendEvents(rig.db, before)
      await waitFor(
        'the plain group handled the first events',
        async () => (await distinctEffects(rig.db, 'goes')) === 40,
      )
      await waitFor('the yielding group fetched some', async () => (received.get('yields')?.size ?? 0) > 0)
      const meanwhile = pointsCharged(uuids(40), 1)
      await appendEvents(rig.db, meanwhile)
      await waitFor(
        'the plain group handled the later events',
        async () => (await distinctEffects(rig.db, 'goes')) === 80,
      )
      await sleep(300)
      const fetched = received.get('yields')!
      assert.equal(
        meanwhile.filter((e) => fetched.has(e.id)).length,
        0,
        'the yielding group fetched events that came while it waited',
      )
      assert.equal(await distinctEffects(rig.db, 'yields'), 0)

      for (let i = 0; i < BUSY_AT; i++) load.leave()
      await waitFor(
        'the yielding group caught up',
        async () => (await distinctEffects(rig.db, 'yields')) === 80,
      )
      assert.deepEqual(
        exactlyOnceProblems(
          await effectsOf(rig.db, 'yields'),
          [...before, ...meanwhile].map((e) => e.id),
        ),
        [],
      )
    })

    test('a delayed group that yields only its fetching: it fetches nothing more while the fans are busy, and handles what it fetched when due', async (t) => {
      const rig = await createRigFor(target, t, 'yield-fetch-due')
      await rig.declare('points.charged')
      const load = new FanLoad(BUSY_AT, QUIET_MS)
      // As a hold's expiry: each event is due a while after it was written.
      const dueMs = 1_500
      const pipeline = await startPipeline(
        rig,
        [
          {
            ...effectHandler('expires'),
            fetchYieldsToFans: true,
            keyConcurrency: 256,
            deliverAt: (event) => new Date(Date.parse(event.time) + dueMs),
          },
          effectHandler('goes'),
        ],
        { fans: { load, yieldMs: 60_000 } },
      )
      const parked = () => counterValue(pipeline.registry, 'events_waiting_for_due', { group: 'expires' })
      const handled = async () => new Set((await effectsOf(rig.db, 'expires')).map((r) => r.event_id))
      const before = pointsCharged(uuids(20), 1)
      await appendEvents(rig.db, before)
      await waitFor(
        'the delayed group fetched the first events and parked them',
        async () => (await parked()) === 20,
      )

      // Busy: the batch fetched as the spell begins is the group's last until it ends (as with yieldsToFans).
      for (let i = 0; i < BUSY_AT; i++) load.enter()
      const first = pointsCharged(uuids(20), 1)
      await appendEvents(rig.db, first)
      await waitFor(
        'the plain group handled the first events',
        async () => (await distinctEffects(rig.db, 'goes')) === 40,
      )
      await sleep(300)
      const meanwhile = pointsCharged(uuids(20), 1)
      await appendEvents(rig.db, meanwhile)
      await waitFor(
        'the plain group handled the later events',
        async () => (await distinctEffects(rig.db, 'goes')) === 60,
      )
      // Still busy: what was fetched falls due and is handled on time; what came meanwhile was not fetched.
      await waitFor(
        'the events fetched before the fans were busy handled when due',
        async () => {
          const now = await handled()
          return before.every((e) => now.has(e.id))
        },
        { timeoutMs: 10_000 },
      )
      await sleep(dueMs + 300)
      const handledNow = await handled()
      assert.deepEqual(
        meanwhile.filter((e) => handledNow.has(e.id)),
        [],
        'the delayed group fetched while the fans were busy',
      )

      for (let i = 0; i < BUSY_AT; i++) load.leave()
      await waitFor(
        'the delayed group caught up',
        async () => (await distinctEffects(rig.db, 'expires')) === 60,
      )
      assert.deepEqual(
        exactlyOnceProblems(
          await effectsOf(rig.db, 'expires'),
          [...before, ...first, ...meanwhile].map((e) => e.id),
        ),
        [],
      )
    })

    test('fans who never pause hold the yielding group back for yieldMs once, then it keeps up beside them', async (t) => {
      const { rig, load, events, ids } = await yieldingPipeline(t, 'yield-longest', 700)
      for (let i = 0; i < BUSY_AT + 10; i++) load.enter()
      await appendEvents(rig.db, events)
      const appended = performance.now()
      await waitFor(
        'the plain group handled every event',
        async () => (await distinctEffects(rig.db, 'goes')) === 40,
      )
      await waitFor(
        'the yielding group’s first effect',
        async () => (await distinctEffects(rig.db, 'yields')) > 0,
        {
          timeoutMs: 15_000,
          intervalMs: 10,
        },
      )
      const first = performance.now()
      assert.ok(
        first - appended >= 690,
        `the yielding group went ${first - appended} ms after the events came`,
      )
      // Five events a key, in key order: had each key's next event waited again, 4 × 700 ms more.
      await waitFor(
        'the yielding group handled every event',
        async () => (await distinctEffects(rig.db, 'yields')) === 40,
        {
          timeoutMs: 15_000,
        },
      )
      assert.ok(performance.now() - first < 2_000, 'the events after the longest wait waited again')
      assert.equal(load.busy, true, 'the fans never paused')
      assert.deepEqual(exactlyOnceProblems(await effectsOf(rig.db, 'yields'), ids), [])
      for (let i = 0; i < BUSY_AT + 10; i++) load.leave()
    })
  })
}
