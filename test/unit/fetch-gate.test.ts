import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FetchGate } from '../../src/events/transport/consumer-loop.ts'
import { PartitionDispatcher } from '../../src/events/transport/partition-dispatcher.ts'
import type { TransportRecord } from '../../src/events/transport/port.ts'

const records = (from: number, n: number): TransportRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    topic: 't',
    partition: 0,
    offset: BigInt(from + i),
    key: `k${from + i}`,
    value: '{}',
    headers: {},
    timestamp: 0,
  }))

/** A gate over a dispatcher whose records finish when the test says, with the pauses and resumes it asked for. */
function gateWith(maxBuffered: number, holdFetching?: () => Promise<void> | undefined) {
  const finishers: (() => void)[] = []
  const dispatcher: PartitionDispatcher = new PartitionDispatcher({
    handle: () => new Promise<void>((resolve) => finishers.push(resolve)),
    commit: async (): Promise<void> => gate.settled(),
    keyConcurrency: 1000,
    onError: (error) => assert.fail(String(error)),
  })
  const calls: string[] = []
  const gate: FetchGate = new FetchGate(
    dispatcher,
    maxBuffered,
    { pause: () => calls.push('pause'), resume: () => calls.push('resume') },
    holdFetching,
  )
  return { gate, calls, finishers, dispatcher }
}

test('fetching pauses past maxBuffered and resumes once half has drained', async () => {
  const { gate, calls, finishers } = gateWith(10)
  gate.push(records(0, 8))
  assert.equal(gate.paused, false)
  gate.push(records(8, 4))
  assert.equal(gate.paused, true)
  assert.deepEqual(calls, ['pause'])
  for (const finish of finishers.splice(0, 6)) finish()
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(gate.paused, true, '6 of 12 still pending: more than half')
  finishers.shift()!()
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(gate.paused, false)
  assert.deepEqual(calls, ['pause', 'resume'])
})

test('records that wait anyway hold fetching until their wait is over, once per wait', async () => {
  let release!: () => void
  let asked = 0
  const wait = new Promise<void>((resolve) => {
    release = resolve
  })
  const { gate, calls } = gateWith(1000, () => {
    asked++
    return wait
  })
  gate.push([])
  assert.equal(asked, 0, 'an empty fetch asks nothing')
  gate.push(records(0, 3))
  assert.equal(gate.paused, true)
  gate.push(records(3, 3))
  assert.equal(asked, 1, 'records fetched during the wait do not ask again')
  release()
  await wait
  await Promise.resolve()
  assert.equal(gate.paused, false)
  assert.deepEqual(calls, ['pause', 'resume'])
})

test('a gate both full and held resumes only when neither is so', async () => {
  let release!: () => void
  const wait = new Promise<void>((resolve) => {
    release = resolve
  })
  const { gate, calls, finishers } = gateWith(4, () => wait)
  gate.push(records(0, 6))
  assert.equal(gate.paused, true)
  release()
  await wait
  await Promise.resolve()
  assert.equal(gate.paused, true, 'still full')
  for (const finish of finishers.splice(0)) finish()
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(gate.paused, false)
  assert.deepEqual(calls, ['pause', 'resume'])
})
