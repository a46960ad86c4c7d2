import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { discountFor } from '../../src/payment/pricing.ts'

describe('discountFor', () => {
  test('no coupon, no discount', () => {
    assert.equal(discountFor(100_000, null), 0)
  })

  test('a fixed coupon takes its value off', () => {
    assert.equal(discountFor(100_000, { discountType: 'fixed', discountValue: 30_000 }), 30_000)
    assert.equal(discountFor(100_000, { discountType: 'fixed', discountValue: 1 }), 1)
  })

  test('a percentage is taken of the price, rounded down to whole points', () => {
    assert.equal(discountFor(100_000, { discountType: 'percent', discountValue: 10 }), 10_000)
    assert.equal(discountFor(999, { discountType: 'percent', discountValue: 10 }), 99)
    assert.equal(discountFor(99_999, { discountType: 'percent', discountValue: 15 }), 14_999)
    assert.equal(discountFor(1, { discountType: 'percent', discountValue: 99 }), 0)
    assert.equal(discountFor(10_000_000, { discountType: 'percent', discountValue: 33 }), 3_300_000)
  })

  test('the discount is never more than the price', () => {
    assert.equal(discountFor(3_000, { discountType: 'fixed', discountValue: 5_000 }), 3_000)
    assert.equal(discountFor(3_000, { discountType: 'percent', discountValue: 100 }), 3_000)
    assert.equal(discountFor(3_000, { discountType: 'percent', discountValue: 250 }), 3_000)
    assert.equal(discountFor(0, { discountType: 'fixed', discountValue: 5_000 }), 0)
  })

  test('the discount is never negative', () => {
    assert.equal(discountFor(3_000, { discountType: 'fixed', discountValue: -500 }), 0)
    assert.equal(discountFor(3_000, { discountType: 'percent', discountValue: -10 }), 0)
  })

  test('price minus discount stays a whole, non-negative amount for every percentage', () => {
    for (const price of [0, 1, 7, 999, 100_000, 123_457]) {
      for (let pct = 1; pct <= 100; pct++) {
        const d = discountFor(price, { discountType: 'percent', discountValue: pct })
        assert.ok(Number.isInteger(d) && d >= 0 && d <= price, `${price} ${pct}% → ${d}`)
        assert.ok(d <= (price * pct) / 100 && d > (price * pct) / 100 - 1)
      }
    }
  })
})
