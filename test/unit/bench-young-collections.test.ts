import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { youngCollectionsIn } from '../../bench/paths/service.ts'
import { createMetrics } from '../../src/platform/metrics.ts'

test("the benchmark reads the young collections from a service's metrics: each one counted, with its pause", async () => {
  const { registry } = createMetrics()
  const before = youngCollectionsIn(await registry.metrics())
  let after = before
  // Short-lived garbage (about 2 MB a round, dead at once): young collections only, reported to V8's observers.
  for (let round = 0; round < 200 && after.count < before.count + 2; round++) {
    let garbage: object[] = []
    for (let i = 0; i < 50_000; i++) garbage.push({ i })
    garbage = []
    await nextTurn()
    after = youngCollectionsIn(await registry.metrics())
  }
  assert.ok(
    after.count >= before.count + 2,
    `young collections counted: ${before.count}, then ${after.count}`,
  )
  assert.ok(after.seconds > before.seconds, `their seconds: ${before.seconds}, then ${after.seconds}`)
})
