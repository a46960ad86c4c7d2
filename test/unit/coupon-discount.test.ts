import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { createTestDatabase } from '../support/databases.ts'

/** The discount rule lives in SQL (the payment routine applies it under the seat lock); checked here on PGlite. */
describe('coupon_discount', () => {
  let handle: DatabaseHandle
  before(async () => {
    handle = await createTestDatabase('pglite', 'coupon-discount')
  })
  after(() => handle.close())

  const discount = async (price: number, type: 'fixed' | 'percent', value: number) =>
    (await sql<{ d: number }>`select coupon_discount(${price}, ${type}, ${value}) as d`.execute(handle.db))
      .rows[0]!.d

  test('a fixed coupon takes its value off', async () => {
    assert.equal(await discount(100_000, 'fixed', 30_000), 30_000)
    assert.equal(await discount(100_000, 'fixed', 1), 1)
  })

  test('a percentage is taken of the price, rounded down to whole points', async () => {
    assert.equal(await discount(100_000, 'percent', 10), 10_000)
    assert.equal(await discount(999, 'percent', 10), 99)
    assert.equal(await discount(99_999, 'percent', 15), 14_999)
    assert.equal(await discount(1, 'percent', 99), 0)
    assert.equal(await discount(10_000_000, 'percent', 33), 3_300_000)
  })

  test('the discount is never more than the price, nor negative', async () => {
    assert.equal(await discount(3_000, 'fixed', 5_000), 3_000)
    assert.equal(await discount(3_000, 'percent', 100), 3_000)
    assert.equal(await discount(3_000, 'percent', 250), 3_000)
    assert.equal(await discount(0, 'fixed', 5_000), 0)
    assert.equal(await discount(3_000, 'fixed', -500), 0)
    assert.equal(await discount(3_000, 'percent', -10), 0)
  })

  test('price minus discount stays a whole, non-negative amount for every percentage', async () => {
    const rows = await sql<{ price: number; pct: number; d: number }>`
      select price, pct, coupon_discount(price, 'percent', pct) as d
        from unnest(array[0, 1, 7, 999, 100000, 123457]) price, generate_series(1, 100) pct`.execute(
      handle.db,
    )
    assert.equal(rows.rows.length, 600)
    for (const { price, pct, d } of rows.rows) {
      assert.ok(Number.isInteger(d) && d >= 0 && d <= price, `${price} ${pct}% → ${d}`)
      assert.ok(d <= (price * pct) / 100 && d > (price * pct) / 100 - 1, `${price} ${pct}% → ${d}`)
    }
  })
})
