// The fans' load that side effects yield to: busy from FANS_BUSY_AT operations in flight until they have been fewer
// for the quiet time; one shared turn, released by the quiet or by the longest wait, whichever comes first, and no
// second wait in a busy spell whose longest wait is over.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { FANS_BUSY_AT, FanLoad } from '../../src/platform/fan-load.ts'

/** Resolves to 'waiting' if `p` has not settled `ms` from now, else to what it resolved to. */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => 'released'), sleep(ms).then(() => 'waiting')])

const enter = (load: FanLoad, n: number) => {
  for (let i = 0; i < n; i++) load.enter()
}
const leave = (load: FanLoad, n: number) => {
  for (let i = 0; i < n; i++) load.leave()
}

test('below the threshold side effects go at once; from it they wait', () => {
  const load = new FanLoad()
  assert.equal(load.busyAt, FANS_BUSY_AT)
  enter(load, FANS_BUSY_AT - 1)
  assert.equal(load.inFlight, FANS_BUSY_AT - 1)
  assert.equal(load.busy, false)
  assert.equal(load.turn(3_000), undefined)
  load.enter()
  assert.equal(load.busy, true)
  const turn = load.turn(3_000)
  assert.ok(turn instanceof Promise)
  assert.equal(load.turn(3_000), turn, 'every wait shares the one turn')
  assert.equal(load.turn(0), undefined, 'a longest wait of 0 turns yielding off')
  leave(load, FANS_BUSY_AT)
})

test('the turn comes once the fans have been fewer for the quiet time, not when their count only dips', async () => {
  const load = new FanLoad(4, 100)
  enter(load, 4)
  const turn = load.turn(10_000)!
  // A batch's answers take the count down; its fans are back before the quiet time is over.
  leave(load, 3)
  await sleep(40)
  enter(load, 3)
  assert.equal(await within(turn, 120), 'waiting', 'a dip shorter than the quiet time released the turn')
  assert.equal(load.busy, true)
  const fewerSince = performance.now()
  leave(load, 4)
  assert.equal(load.inFlight, 0)
  assert.equal(await within(turn, 1_000), 'released')
  assert.ok(performance.now() - fewerSince >= 99, 'released before the quiet time was over')
  assert.equal(load.busy, false)
  assert.equal(load.turn(10_000), undefined)
  const { turns, ms } = load.yielded
  assert.equal(turns, 1)
  assert.ok(ms >= 250, `the turn lasted ${ms} ms`)
})

test('fans who never pause hold side effects back for the longest wait once, then share the instance with them', async () => {
  const load = new FanLoad(2, 50)
  enter(load, 5)
  const started = performance.now()
  const first = load.turn(150)!
  assert.equal(await within(first, 100), 'waiting')
  await first
  assert.ok(performance.now() - started >= 149, 'released before the longest wait')
  assert.equal(load.busy, true, 'still busy: the fans are still there')
  assert.equal(load.turn(150), undefined, 'a side effect waited again in the same busy spell')
  assert.equal(load.holdsBack(150), false)
  // The spell ends once the fans have been fewer for the quiet time; the next one waits again.
  leave(load, 5)
  await sleep(80)
  assert.equal(load.busy, false)
  enter(load, 2)
  assert.equal(load.holdsBack(150), true)
  assert.equal(load.holdsBack(0), false, 'a longest wait of 0 never holds back')
  const second = load.turn(150)
  assert.ok(second instanceof Promise, 'a new busy spell has its side effects wait again')
  leave(load, 2)
  await second
  assert.equal(load.yielded.turns, 2)
})
