import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SequenceCursor } from '../../src/platform/sequence-cursor.ts'

test('a cursor asks for the numbers it has not seen below the last, until they fall a lookback below it', () => {
  // At start, the numbers up to where the sequence stood may still be uncommitted.
  const cursor = new SequenceCursor(5, 4)
  assert.deepEqual([cursor.last, cursor.gaps], [5, [2, 3, 4, 5]])
  cursor.saw([3, 5, 7, 9])
  assert.deepEqual([cursor.last, cursor.gaps], [9, [6, 8]], '4 and 2 fell below 9 - 4; 6 and 8 were skipped')
  cursor.saw([8])
  assert.deepEqual([cursor.last, cursor.gaps], [9, [6]], 'a late one, read once')
  cursor.saw([])
  assert.deepEqual([cursor.last, cursor.gaps], [9, [6]], 'nothing read, nothing forgotten')
  cursor.saw([12])
  assert.deepEqual([cursor.last, cursor.gaps], [12, [10, 11]], '6 is given up: it may never commit')
  cursor.saw([13, 14, 15, 16, 17])
  assert.deepEqual([cursor.last, cursor.gaps], [17, []])
})

test('a cursor that starts before any number asks for none below', () => {
  const cursor = new SequenceCursor(0, 256)
  assert.deepEqual(cursor.gaps, [])
  cursor.saw([2, 4])
  assert.deepEqual([cursor.last, cursor.gaps], [4, [1, 3]])
})
