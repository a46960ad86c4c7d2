import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  admissionBudget,
  estimatedWaitSeconds,
  queuePosition,
  sequenceNameFor,
} from '../../src/queue/queue-rules.ts'

const base = { credit: 0, ratePerSecond: 10, elapsedSeconds: 0, maxActive: 1000, active: 0 }

describe('admissionBudget', () => {
  test('admits rate × elapsed seconds', () => {
    assert.deepEqual(admissionBudget({ ...base, elapsedSeconds: 0.5 }), { admit: 5, credit: 0 })
    assert.deepEqual(admissionBudget({ ...base, elapsedSeconds: 1 }), { admit: 10, credit: 0 })
  })

  test('nothing elapsed and no credit admits nobody', () => {
    assert.deepEqual(admissionBudget(base), { admit: 0, credit: 0 })
  })

  test('fractions carry over as credit until they make a whole fan', () => {
    const first = admissionBudget({ ...base, ratePerSecond: 3, elapsedSeconds: 0.5 })
    assert.equal(first.admit, 1)
    assert.ok(Math.abs(first.credit - 0.5) < 1e-9)
    const second = admissionBudget({ ...base, ratePerSecond: 3, elapsedSeconds: 0.5, credit: first.credit })
    assert.equal(second.admit, 2)
    assert.ok(Math.abs(second.credit) < 1e-9)

    const slow = admissionBudget({ ...base, ratePerSecond: 0.5, elapsedSeconds: 1 })
    assert.equal(slow.admit, 0)
    assert.ok(Math.abs(slow.credit - 0.5) < 1e-9)
    assert.equal(
      admissionBudget({ ...base, ratePerSecond: 0.5, elapsedSeconds: 1, credit: slow.credit }).admit,
      1,
    )
  })

  test('capacity caps admissions; the unused credit is kept for later', () => {
    const r = admissionBudget({ ...base, elapsedSeconds: 1, maxActive: 10, active: 7 })
    assert.equal(r.admit, 3)
    assert.equal(r.credit, 7)
  })

  test('a full room admits nobody, even with credit, and an overfull one does not go negative', () => {
    assert.deepEqual(admissionBudget({ ...base, credit: 5, elapsedSeconds: 1, maxActive: 10, active: 10 }), {
      admit: 0,
      credit: 15,
    })
    assert.equal(
      admissionBudget({ ...base, credit: 5, elapsedSeconds: 1, maxActive: 10, active: 12 }).admit,
      0,
    )
  })

  test('bursts are capped at two seconds of rate, however long the pause', () => {
    assert.deepEqual(admissionBudget({ ...base, elapsedSeconds: 3600 }), { admit: 20, credit: 0 })
    assert.deepEqual(admissionBudget({ ...base, credit: 19, elapsedSeconds: 1 }), { admit: 20, credit: 0 })
  })

  test('for rates under half a fan per second the burst cap is still one fan', () => {
    assert.deepEqual(admissionBudget({ ...base, ratePerSecond: 0.1, elapsedSeconds: 3600 }), {
      admit: 1,
      credit: 0,
    })
  })

  test('a clock that went backwards does not take credit away', () => {
    assert.deepEqual(admissionBudget({ ...base, credit: 2.5, elapsedSeconds: -10 }), {
      admit: 2,
      credit: 0.5,
    })
  })
})

describe('queue positions and waits', () => {
  test('position counts the admissions still ahead, itself included', () => {
    assert.equal(queuePosition(1, 0), 1)
    assert.equal(queuePosition(10, 0), 10)
    assert.equal(queuePosition(10, 4), 6)
    assert.equal(queuePosition(5, 4), 1)
  })

  test('position never drops below 1 while waiting', () => {
    assert.equal(queuePosition(5, 5), 1)
    assert.equal(queuePosition(5, 9), 1)
  })

  test('estimated wait is position over rate, rounded up to whole seconds', () => {
    assert.equal(estimatedWaitSeconds(1, 50), 1)
    assert.equal(estimatedWaitSeconds(50, 50), 1)
    assert.equal(estimatedWaitSeconds(51, 50), 2)
    assert.equal(estimatedWaitSeconds(3, 0.5), 6)
    assert.equal(estimatedWaitSeconds(10, 2), 5)
  })

  test('the estimate shrinks as the position does', () => {
    let previous = Number.POSITIVE_INFINITY
    for (let position = 100; position >= 1; position--) {
      const wait = estimatedWaitSeconds(position, 3)
      assert.ok(wait <= previous)
      previous = wait
    }
    assert.ok(estimatedWaitSeconds(100, 3) > estimatedWaitSeconds(1, 3))
  })

  test('sequence names are plain identifiers, one per schedule', () => {
    const a = sequenceNameFor('0192f1c2-7a55-7d10-8c44-1a2b3c4d5e6f')
    assert.equal(a, 'queue_seq_0192f1c27a557d108c441a2b3c4d5e6f')
    assert.match(a, /^[a-z_][a-z0-9_]*$/)
    assert.notEqual(a, sequenceNameFor('0192f1c2-7a55-7d10-8c44-1a2b3c4d5e70'))
  })
})
