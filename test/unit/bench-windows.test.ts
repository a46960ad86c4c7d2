// A long sale's course: the benchmark's runs split their answers by when they came, so that a throughput that fell
// or a p99 that rose in the sale's middle shows where it did.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { drive, windowsOf } from '../../bench/support/load.ts'

test('answers go to the window they came in, each with its own rate and p99', () => {
  // 25 s: 100 answers of 5 ms in the first 10 s, 50 of 200 ms in the next, 30 of 5 ms in the last 5 s.
  const answers = [
    ...Array.from({ length: 100 }, (_, i) => [i * 100, 5]),
    ...Array.from({ length: 50 }, (_, i) => [10_000 + i * 200, 200]),
    ...Array.from({ length: 30 }, (_, i) => [20_000 + i * 150, 5]),
  ]
  const at = answers.map(([t]) => t)
  const latency = answers.map(([, ms]) => ms)
  const windows = windowsOf(at, latency, 25_000, 10)
  assert.deepEqual(windows, [
    { fromSecond: 0, perSecond: 10, p99Ms: 5 },
    { fromSecond: 10, perSecond: 5, p99Ms: 200 },
    { fromSecond: 20, perSecond: 6, p99Ms: 5 },
  ])
})

test('a last piece shorter than half a window joins the one before; failed requests are left out', () => {
  // 14 s, an answer every 100 ms (7 ms each) but one that failed: the 4 s past the first window join it.
  const at = Array.from({ length: 140 }, (_, i) => i * 100)
  const latency: (number | undefined)[] = at.map(() => 7)
  latency[70] = undefined
  assert.deepEqual(windowsOf(at, latency, 14_000, 10), [{ fromSecond: 0, perSecond: 10, p99Ms: 7 }])
  // 16 s: the last 6 s are a window of their own.
  const longer = Array.from({ length: 160 }, (_, i) => i * 100)
  const windows = windowsOf(
    longer,
    longer.map((t) => (t < 10_000 ? 7 : 90)),
    16_000,
    10,
  )
  assert.deepEqual(windows, [
    { fromSecond: 0, perSecond: 10, p99Ms: 7 },
    { fromSecond: 10, perSecond: 10, p99Ms: 90 },
  ])
})

test("a run of the load generator reports its windows, their answers adding up to the run's", async () => {
  let answered = 0
  const server = createServer((_req, res) => {
    answered++
    res.end('{}')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    const { port } = server.address() as AddressInfo
    const run = await drive(`http://127.0.0.1:${port}`, {
      connections: 4,
      count: 400,
      request: () => ({ method: 'GET', path: '/' }),
    })
    assert.equal(run.requests, 400)
    assert.equal(run.windows.length, 1, 'a run of well under 15 s is one window')
    const [only] = run.windows
    assert.equal(only!.fromSecond, 0)
    assert.equal(only!.perSecond, run.perSecond)
    assert.equal(only!.p99Ms, run.latencyMs.p99)
    assert.equal(answered, 400)
  } finally {
    server.close()
  }
})
