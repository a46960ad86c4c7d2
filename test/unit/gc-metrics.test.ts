import assert from 'node:assert/strict'
import { PerformanceObserver } from 'node:perf_hooks'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createMetrics } from '../../src/platform/metrics.ts'

/** The histogram's count of collections of `kind`, as a scrape shows it. */
async function collections(text: string, kind: string): Promise<number> {
  return Number(
    new RegExp(`^nodejs_gc_duration_seconds_count\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0,
  )
}

test('nodejs_gc_duration_seconds counts every collection, also those delivered together after one long turn', async () => {
  // A reference observer that keeps every entry, and how many arrived in its fullest delivery.
  let young = 0
  let fullest = 0
  const reference = new PerformanceObserver((list) => {
    const entries = list.getEntries()
    fullest = Math.max(fullest, entries.length)
    for (const e of entries) if ((e as { detail?: { kind?: number } }).detail?.kind === 1) young++
  })
  reference.observe({ entryTypes: ['gc'] })
  const metrics = createMetrics()
  const before = await collections(await metrics.registry.metrics(), 'minor')
  const youngBefore = young
  // One turn that allocates enough for several young collections: their entries reach the observers together.
  let kept: object[] = []
  for (let i = 0; i < 3_000_000; i++) {
    kept.push({ i, s: `x${i}` })
    if (kept.length > 50_000) kept = []
  }
  await sleep(50)
  reference.disconnect()
  const after = await collections(await metrics.registry.metrics(), 'minor')
  assert.ok(fullest >= 2, `the collections came one per delivery (${fullest}): nothing to tell apart`)
  assert.ok(young - youngBefore >= 2, `${young - youngBefore} young collections`)
  assert.equal(after - before, young - youngBefore)
})
