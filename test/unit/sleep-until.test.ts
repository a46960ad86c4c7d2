import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sleepUntil, untilOrAborted } from '../../src/platform/sleep-until.ts'

test('many waits on one signal share one abort listener, and each resolves at its time, never before', async () => {
  const abort = new AbortController()
  const start = Date.now()
  const resolvedAt: number[] = []
  const dues = Array.from({ length: 5_000 }, (_, i) => start + 20 + (i % 50))
  const waits = dues.map((at, i) =>
    sleepUntil(at, abort.signal).then(() => {
      resolvedAt[i] = Date.now()
    }),
  )
  // timers/promises' sleep would have added 5,000 listeners here, each add looking through all the earlier ones.
  assert.equal(getEventListeners(abort.signal, 'abort').length, 1)
  await Promise.all(waits)
  for (const [i, at] of dues.entries()) assert.ok(resolvedAt[i]! >= at, `wait ${i} resolved before its time`)
  // Waits that are over leave nothing behind: a later one still adds no listener.
  await sleepUntil(Date.now() + 5, abort.signal)
  assert.equal(getEventListeners(abort.signal, 'abort').length, 1)
})

test('an abort rejects every wait still in progress with the signal’s reason; the ones already over stay resolved', async () => {
  const abort = new AbortController()
  const done = await sleepUntil(Date.now() + 5, abort.signal).then(() => 'resolved')
  assert.equal(done, 'resolved')
  const outcomes: string[] = []
  const waits = Array.from({ length: 100 }, () =>
    sleepUntil(Date.now() + 60_000, abort.signal).then(
      () => outcomes.push('resolved'),
      (reason: unknown) => outcomes.push(reason === abort.signal.reason ? 'aborted' : `other ${reason}`),
    ),
  )
  await sleep(5)
  assert.deepEqual(outcomes, [])
  abort.abort()
  await Promise.all(waits)
  assert.deepEqual(outcomes, Array(100).fill('aborted'))
  await assert.rejects(sleepUntil(Date.now() + 1_000, abort.signal), (e) => e === abort.signal.reason)
})

test('a time already past resolves at once; signals do not share their waits', async () => {
  const a = new AbortController()
  const b = new AbortController()
  await sleepUntil(Date.now() - 1_000, a.signal)
  const onB = sleepUntil(Date.now() + 20, b.signal).then(() => 'b resolved')
  const onA = sleepUntil(Date.now() + 60_000, a.signal).catch(() => 'a aborted')
  a.abort()
  assert.equal(await onA, 'a aborted')
  assert.equal(await onB, 'b resolved')
})

test('waits for a promise share the signal’s one listener; they resolve with it, or reject when the signal aborts', async () => {
  const abort = new AbortController()
  let release!: () => void
  const turn = new Promise<void>((resolve) => {
    release = resolve
  })
  const waits = Array.from({ length: 300 }, () => untilOrAborted(turn, abort.signal))
  await sleepUntil(Date.now() + 5, abort.signal)
  assert.equal(getEventListeners(abort.signal, 'abort').length, 1)
  release()
  await Promise.all(waits)

  const never = new Promise<void>(() => {})
  const outcomes = Array.from({ length: 50 }, () =>
    untilOrAborted(never, abort.signal).then(
      () => 'resolved',
      (reason: unknown) => (reason === abort.signal.reason ? 'aborted' : `other ${reason}`),
    ),
  )
  abort.abort()
  assert.deepEqual(await Promise.all(outcomes), Array(50).fill('aborted'))
  await assert.rejects(untilOrAborted(turn, abort.signal), (e) => e === abort.signal.reason)
})
