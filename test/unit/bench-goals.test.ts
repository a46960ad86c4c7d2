import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { goalsCell, judgeGoals } from '../../bench/support/goals.ts'

// The benchmark's verdicts on issue #7's goals: what it prints beside each row, and what the README's table of
// goals is read from.
describe("benchmark goals' verdicts", () => {
  test('a payment path meets its goals at exactly half the limit and exactly 100 ms, and misses them just past', () => {
    assert.deepEqual(judgeGoals('payments', { service: 1_000, limitPerSecond: 2_000, p99Ms: 100 }), [
      { goal: '≥ 50 %', met: true },
      { goal: 'p99 ≤ 100 ms', met: true },
    ])
    assert.deepEqual(judgeGoals('payments', { service: 999, limitPerSecond: 2_000, p99Ms: 100.1 }), [
      { goal: '≥ 50 %', met: false },
      { goal: 'p99 ≤ 100 ms', met: false },
    ])
  })

  test("each path has the issue's own goals: the race 50 ms, the expiry 250 ms, the consumers 20,000 events/s", () => {
    assert.deepEqual(judgeGoals('holds-race', { service: 12_000, limitPerSecond: 20_000, p99Ms: 51 }), [
      { goal: '≥ 50 %', met: true },
      { goal: 'p99 ≤ 50 ms', met: false },
    ])
    assert.deepEqual(judgeGoals('expiry-lateness', { service: Number.NaN, p99Ms: 240 }), [
      { goal: 'lateness p99 ≤ 250 ms', met: true },
    ])
    assert.deepEqual(judgeGoals('consumers', { service: 19_999, limitPerSecond: 20_000, p99Ms: 40 }), [
      { goal: '≥ 100 %', met: false },
      { goal: 'commit→handler p99 ≤ 100 ms', met: true },
    ])
    assert.deepEqual(judgeGoals('position-reads', { service: 9_000, limitPerSecond: 20_000, p99Ms: 500 }), [
      { goal: '≥ 50 %', met: false },
    ])
  })

  test('no limit measured (a smoke run) leaves the ratio unjudged; a path without goals has none', () => {
    assert.deepEqual(judgeGoals('payments', { service: 10, p99Ms: 20 }), [
      { goal: 'p99 ≤ 100 ms', met: true },
    ])
    assert.deepEqual(judgeGoals('coupon-requests', { service: 2_000, limitPerSecond: 2_000, p99Ms: 10 }), [])
    assert.equal(goalsCell([]), '–')
    assert.equal(
      goalsCell(judgeGoals('holds-free', { service: 3_000, limitPerSecond: 2_000, p99Ms: 136.5 })),
      '≥ 50 % yes, p99 ≤ 100 ms NO',
    )
  })
})
