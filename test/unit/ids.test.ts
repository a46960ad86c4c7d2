import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validate, version } from 'uuid'
import { uuidv7 } from '../../src/platform/ids.ts'

test('ids are UUIDv7, distinct, and in creation order even within one millisecond and across pool refills', () => {
  // 20,000 ids draw the 4 KiB pool (256 ids) about 78 times over, and many share a millisecond.
  const ids = Array.from({ length: 20_000 }, () => uuidv7())
  for (const id of ids.slice(0, 300)) {
    assert.ok(validate(id), `${id} is a UUID`)
    assert.equal(version(id), 7)
  }
  assert.equal(new Set(ids).size, ids.length)
  const sameMillisecond = ids.filter((id, i) => i > 0 && id.slice(0, 13) === ids[i - 1]!.slice(0, 13)).length
  assert.ok(sameMillisecond > 1_000, `only ${sameMillisecond} ids shared a millisecond with the one before`)
  for (let i = 1; i < ids.length; i++)
    assert.ok(ids[i - 1]! < ids[i]!, `id ${i} sorts before the one made before it`)
})

test("an id's time is the clock's, to the millisecond", () => {
  const before = Date.now()
  const id = uuidv7()
  const after = Date.now()
  const msecs = Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)
  assert.ok(msecs >= before && msecs <= after + 1, `${msecs} outside ${before}..${after}`)
})

test('the random bits differ between ids made in different milliseconds', async () => {
  const a = uuidv7()
  await new Promise((r) => setTimeout(r, 3))
  const b = uuidv7()
  // the last 8 bytes after the sequence are pool bytes: two ids never share them by chance
  assert.notEqual(a.slice(-12), b.slice(-12))
})
