import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { validate, version } from 'uuid'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'

/** The ids the routines make in SQL (reservations, payments, events, offers, coupons): uuid_v7(). */
for (const kind of databaseKinds) {
  describe(`uuid_v7() on ${kind}`, () => {
    let handle: DatabaseHandle
    before(async () => {
      handle = await createTestDatabase(kind, 'sql-uuid-v7')
    })
    after(() => handle.close())

    const made = async (count: number) =>
      (
        await sql<{ before: string; id: string; after: string }>`
          select floor(extract(epoch from clock_timestamp()) * 1000)::bigint as before, uuid_v7()::text as id,
                 floor(extract(epoch from clock_timestamp()) * 1000)::bigint as after
            from generate_series(1, ${count})`.execute(handle.db)
      ).rows

    test("ids are UUIDv7 of RFC 9562's variant, distinct, each with the clock's millisecond", async () => {
      const rows = await made(20_000)
      for (const { before, id, after } of rows) {
        assert.ok(validate(id), `${id} is a UUID`)
        assert.equal(version(id), 7, id)
        assert.match(id[19]!, /[89ab]/, `${id} has the variant bits 10`)
        const msecs = Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)
        assert.ok(
          msecs >= Number(before) && msecs <= Number(after),
          `${id}: ${msecs} outside ${before}..${after}`,
        )
      }
      assert.equal(new Set(rows.map((r) => r.id)).size, rows.length)
    })

    test('each of the 74 random bits is as often set as not', async () => {
      const rows = await made(20_000)
      // The bits after the 48 of time and the 4 of the version (rand_a), and after the 2 of the variant (rand_b).
      const positions = [
        ...Array.from({ length: 12 }, (_, i) => 52 + i),
        ...Array.from({ length: 62 }, (_, i) => 66 + i),
      ]
      const set = new Array<number>(128).fill(0)
      for (const { id } of rows) {
        const bits = BigInt(`0x${id.replaceAll('-', '')}`)
        for (const p of positions) if ((bits >> BigInt(127 - p)) & 1n) set[p]!++
      }
      // 20,000 fair draws: 50 % give or take 0.35 % (one standard deviation); 40-60 % is never missed by chance.
      for (const p of positions) {
        const share = set[p]! / rows.length
        assert.ok(share > 0.4 && share < 0.6, `bit ${p} set in ${(share * 100).toFixed(1)} % of the ids`)
      }
    })
  })
}
