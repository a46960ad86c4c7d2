import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Batcher, BatchFailed } from '../../src/platform/batcher.ts'

/**
 * A run whose batches the test finishes by hand, recording when each one was sent: on the tick after the call, as
 * pg's pool hands a query its connection.
 */
function manualRun(log: string[]) {
  const pending: { items: readonly number[]; finish: () => void }[] = []
  const run = (items: readonly number[]) =>
    new Promise<PromiseSettledResult<number>[]>((resolve) => {
      process.nextTick(() => log.push(`sent [${items.join(',')}]`))
      pending.push({
        items,
        finish: () => resolve(items.map((value) => ({ status: 'fulfilled', value: value * 10 }))),
      })
    })
  return { run, pending }
}

test('items submitted while a batch runs go together as the next batch, each with its own outcome', async () => {
  const log: string[] = []
  const { run, pending } = manualRun(log)
  const batcher = new Batcher(run, 128)
  const first = batcher.submit(1)
  await new Promise((r) => setImmediate(r))
  const later = [2, 3, 4].map((i) => batcher.submit(i))
  pending[0]!.finish()
  assert.equal(await first, 10)
  await new Promise((r) => setImmediate(r))
  assert.deepEqual(log, ['sent [1]', 'sent [2,3,4]'])
  pending[1]!.finish()
  assert.deepEqual(await Promise.all(later), [20, 30, 40])
})

test('what one turn of the event loop brings goes as one batch: several callbacks, and items many promise hops apart', async () => {
  const log: string[] = []
  const { run, pending } = manualRun(log)
  const batcher = new Batcher(run, 128)
  const answers: Promise<number>[] = []
  // Two timers due together run in one turn, as requests read from two sockets ready at once do; the second one's
  // item comes after a few promise hops, as a consumer key's next record does after its last one's outcome.
  await new Promise<void>((done) => {
    setTimeout(() => answers.push(batcher.submit(1)), 0)
    setTimeout(async () => {
      for (let hop = 0; hop < 5; hop++) await null
      answers.push(batcher.submit(2))
      done()
    }, 0)
  })
  await new Promise((r) => setImmediate(r))
  assert.deepEqual(log, ['sent [1,2]'])
  pending[0]!.finish()
  assert.deepEqual(await Promise.all(answers), [10, 20])
})

test('the next batch is sent before the callers of the one that finished continue', async () => {
  const log: string[] = []
  const { run, pending } = manualRun(log)
  const batcher = new Batcher(run, 128)
  const first = [1, 2].map((i) => batcher.submit(i).then((v) => log.push(`answer ${v}`)))
  await new Promise((r) => setImmediate(r))
  const second = batcher.submit(3).then((v) => log.push(`answer ${v}`))
  pending[0]!.finish()
  await Promise.all(first)
  // The database would already be working on [3] while the answers of [1,2] are written.
  assert.deepEqual(log, ['sent [1,2]', 'sent [3]', 'answer 10', 'answer 20'])
  pending[1]!.finish()
  await second
  assert.deepEqual(log.slice(4), ['answer 30'])
})

test('a batch that fails, by rejecting or by throwing at once, fails each of its items and not the next', async () => {
  let calls = 0
  const batcher = new Batcher<number, number>((items) => {
    calls++
    if (calls === 1) return Promise.reject(new Error('connection lost'))
    if (calls === 2) throw new Error('not even started')
    return Promise.resolve(items.map((value) => ({ status: 'fulfilled', value })))
  }, 128)
  const rejected = await Promise.allSettled([batcher.submit(1), batcher.submit(2)])
  for (const r of rejected) {
    assert.equal(r.status, 'rejected')
    assert.ok(r.reason instanceof BatchFailed)
    assert.equal(r.reason.size, 2)
    assert.match(r.reason.message, /connection lost/)
  }
  await assert.rejects(
    batcher.submit(3),
    (e: unknown) => e instanceof BatchFailed && /not even started/.test(e.message),
  )
  assert.equal(await batcher.submit(4), 4)
})
