import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeatMemory } from '../../src/booking/seat-memory.ts'

test('a held seat is remembered until the earlier of its deadline and the TTL', () => {
  const seats = new SeatMemory(2000)
  const now = 1_000_000
  seats.rememberHeld('a', new Date(now + 500), now)
  seats.rememberHeld('b', new Date(now + 60_000), now)
  assert.equal(seats.isTaken('a', now + 499), true)
  assert.equal(seats.isTaken('a', now + 500), false, 'a lapsed hold reads free at its deadline')
  assert.equal(seats.isTaken('b', now + 1999), true)
  assert.equal(seats.isTaken('b', now + 2000), false, 'never longer than the TTL')
})

test('forget, unknown seats, sold seats and a disabled cache', () => {
  const seats = new SeatMemory(1000)
  assert.equal(seats.isTaken('x'), false)
  seats.rememberSold('s', 0)
  assert.equal(seats.isTaken('s', 19_999), true)
  seats.forget('s')
  assert.equal(seats.isTaken('s', 1), false)
  const off = new SeatMemory(0)
  off.rememberHeld('a', new Date(Date.now() + 60_000))
  off.rememberSold('b')
  assert.equal(off.isTaken('a'), false)
  assert.equal(off.isTaken('b'), false)
})
