import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PartitionDispatcher } from '../../src/events/transport/partition-dispatcher.ts'
import type { TransportRecord } from '../../src/events/transport/port.ts'

const record = (offset: number, key: string): TransportRecord => ({
  topic: 't',
  partition: 0,
  offset: BigInt(offset),
  key,
  value: '{}',
  headers: {},
  timestamp: 0,
})

test('records done one by one while a commit is in flight cost one more commit, of the latest offset', async () => {
  const commits: bigint[] = []
  let releaseCommit: () => void = () => {}
  const dispatcher = new PartitionDispatcher({
    keyConcurrency: 16,
    handle: async () => {},
    async commit(_topic, _partition, nextOffset) {
      commits.push(nextOffset)
      // The first commit is slow (a round trip under load); the records behind it finish meanwhile.
      if (commits.length === 1) await new Promise<void>((resolve) => (releaseCommit = resolve))
    },
    onError: (error) => assert.fail(String(error)),
  })
  dispatcher.push([record(0, 'a')])
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(commits, [1n])
  // 200 records on 20 keys, each done in its own turn, while the first commit waits.
  dispatcher.push(Array.from({ length: 200 }, (_, i) => record(i + 1, `k${i % 20}`)))
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(dispatcher.pending, 0, 'every record was handled')
  releaseCommit()
  await dispatcher.close()
  assert.deepEqual(commits, [1n, 201n], 'the queued commit wrote the latest offset once')
})

test('a commit never passes a record that is not done, and a failed commit is made good by the next', async () => {
  const commits: bigint[] = []
  let failNext = true
  let releaseSlow: () => void = () => {}
  const dispatcher = new PartitionDispatcher({
    keyConcurrency: 16,
    async handle(r) {
      if (r.offset === 3n) await new Promise<void>((resolve) => (releaseSlow = resolve))
    },
    async commit(_topic, _partition, nextOffset) {
      if (failNext) {
        failNext = false
        throw new Error('broker away')
      }
      commits.push(nextOffset)
    },
    onError: () => {},
  })
  dispatcher.push([record(0, 'a'), record(1, 'b'), record(2, 'c'), record(3, 'slow'), record(4, 'd')])
  await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(
    commits.every((c) => c <= 3n),
    `nothing at or past the unfinished offset 3 is committed: ${commits}`,
  )
  releaseSlow()
  await dispatcher.close()
  assert.equal(commits.at(-1), 5n, 'once offset 3 is done, everything is committed')
})

test('out of key order, records of one key run at once (up to the key concurrency); commits still wait for the slowest', async () => {
  for (const inKeyOrder of [true, false]) {
    const commits: bigint[] = []
    const running = new Set<bigint>()
    let most = 0
    const release: (() => void)[] = []
    const dispatcher = new PartitionDispatcher({
      keyConcurrency: 4,
      inKeyOrder,
      async handle(r) {
        running.add(r.offset)
        most = Math.max(most, running.size)
        await new Promise<void>((resolve) => release.push(resolve))
        running.delete(r.offset)
      },
      async commit(_topic, _partition, nextOffset) {
        commits.push(nextOffset)
      },
      onError: (error) => assert.fail(String(error)),
    })
    dispatcher.push(Array.from({ length: 10 }, (_, i) => record(i, 'coupon-1')))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(running.size, inKeyOrder ? 1 : 4, `running at once, inKeyOrder ${inKeyOrder}`)
    if (!inKeyOrder) {
      // The second record finishes first: nothing is committed past the first, still running.
      release.splice(1, 1)[0]!()
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(commits, [])
    }
    while (dispatcher.pending > 0) {
      for (const r of release.splice(0)) r()
      await new Promise((resolve) => setImmediate(resolve))
    }
    await dispatcher.close()
    assert.equal(most, inKeyOrder ? 1 : 4)
    assert.equal(commits.at(-1), 10n)
  }
})

test('a record not due yet parks its key: other keys run meanwhile, it runs once due, and commits wait for it', async () => {
  const handled: { offset: bigint; at: number }[] = []
  const commits: bigint[] = []
  const start = Date.now()
  const due = new Map([
    [0n, start + 150],
    [2n, start + 60],
  ])
  const dispatcher = new PartitionDispatcher({
    // One key in flight at most: a parked key must not hold that slot.
    keyConcurrency: 1,
    dueAt: (r) => due.get(r.offset),
    async handle(r) {
      handled.push({ offset: r.offset, at: Date.now() })
    },
    async commit(_topic, _partition, nextOffset) {
      commits.push(nextOffset)
    },
    onError: (error) => assert.fail(String(error)),
  })
  // offset 1 is behind 0 in key a, so it waits with it; b and c are due at once, d later than c's turn.
  dispatcher.push([record(0, 'a'), record(1, 'a'), record(2, 'b'), record(3, 'c'), record(4, 'd')])
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.deepEqual(
    handled.map((h) => h.offset),
    [3n, 4n],
    'the keys due at once ran, one at a time, past the two parked ones',
  )
  assert.deepEqual(commits, [], 'nothing is committed past the parked offset 0')
  assert.equal(dispatcher.parked, 2, 'keys a and b wait for their time')
  while (dispatcher.pending > 0) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.deepEqual(
    handled.map((h) => h.offset),
    [3n, 4n, 2n, 0n, 1n],
    'each parked key ran when due, earliest first, and the record behind it in its key after it',
  )
  assert.equal(dispatcher.parked, 0)
  for (const [offset, at] of due) {
    const ran = handled.find((h) => h.offset === offset)!.at
    assert.ok(ran >= at, `offset ${offset} ran ${at - ran} ms before it was due`)
  }
  await dispatcher.close()
  assert.equal(commits.at(-1), 5n)
})

test('revoking a partition forgets its parked keys: they are not handled, nor committed, and no timer keeps them', async () => {
  let handled = 0
  const commits: bigint[] = []
  const dispatcher = new PartitionDispatcher({
    keyConcurrency: 16,
    dueAt: (r) => (r.key === 'later' ? Date.now() + 30 : undefined),
    async handle() {
      handled++
    },
    async commit(_topic, _partition, nextOffset) {
      commits.push(nextOffset)
    },
    onError: (error) => assert.fail(String(error)),
  })
  dispatcher.push([record(0, 'now'), record(1, 'later'), record(2, 'now-too')])
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(handled, 2)
  assert.equal(dispatcher.parked, 1)
  await dispatcher.revoke([{ topic: 't', partition: 0 }])
  assert.equal(dispatcher.parked, 0, 'a revoked partition has nothing waiting')
  await new Promise((resolve) => setTimeout(resolve, 60))
  assert.equal(handled, 2, 'the parked record is left for the next owner')
  assert.deepEqual(commits, [1n], 'the commit stops before the parked offset')
  assert.equal(dispatcher.pending, 0)
})

test('thousands of distinct keys waiting for a runner start in arrival order, each once, while others are requeued', async () => {
  const started: string[] = []
  const dispatcher = new PartitionDispatcher({
    keyConcurrency: 4,
    async handle(r) {
      started.push(`${r.key}@${r.offset}`)
      await new Promise((resolve) => setImmediate(resolve))
    },
    commit: async () => {},
    onError: (error) => assert.fail(String(error)),
  })
  // 5,000 keys of one record each (as hold and payment events are keyed by reservation), pushed in two fetches, and
  // one key with more records than a turn, which goes back behind the keys waiting: the waiting keys pass the point
  // where their queue drops the keys already taken, more than once.
  const busy = Array.from({ length: 300 }, (_, i) => record(i, 'busy'))
  const first = Array.from({ length: 2_500 }, (_, i) => record(300 + i, `k${i}`))
  const second = Array.from({ length: 2_500 }, (_, i) => record(2_800 + i, `k${2_500 + i}`))
  dispatcher.push([...busy, ...first])
  dispatcher.push(second)
  // A key lost by the queue would never run: the records are counted out by turns of the event loop, not waited for.
  for (let turns = 0; dispatcher.pending > 0 && turns < 50_000; turns++) {
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.equal(dispatcher.pending, 0, 'every record was handled')
  await dispatcher.close()
  const distinct = started.filter((s) => !s.startsWith('busy@'))
  assert.deepEqual(
    distinct,
    [...first, ...second].map((r) => `${r.key}@${r.offset}`),
    'every distinct key started once, in arrival order',
  )
  assert.deepEqual(
    started.filter((s) => s.startsWith('busy@')),
    busy.map((r) => `busy@${r.offset}`),
    "the busy key's records ran in order, all of them",
  )
})
