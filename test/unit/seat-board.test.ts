import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeatBoard } from '../../src/booking/seat-board.ts'

test('a held seat reads taken until its own deadline, not a moment longer', () => {
  const board = new SeatBoard({ enabled: true })
  const now = 1_000_000
  board.recordHeld('s', 'a', now + 500)
  assert.equal(board.isTaken('a', now + 499), true)
  assert.equal(board.isTaken('a', now + 500), false, 'a lapsed hold reads free at its deadline')
  assert.equal(board.isTaken('unknown', now), false, 'a seat it knows nothing of is never said taken')
})

test('a sold seat stays taken until a change says otherwise; changes from the database replace what it knew', () => {
  const board = new SeatBoard({ enabled: true })
  const now = 1_000_000
  board.recordSold('s', 'a')
  assert.equal(board.isTaken('a', now + 86_400_000), true)
  board.apply([{ id: 'a', scheduleId: 's', status: 'available', heldUntil: undefined }], now)
  assert.equal(board.isTaken('a', now), false, 'a release read from the database frees it')
  board.apply([{ id: 'b', scheduleId: 's', status: 'held', heldUntil: now + 1000 }], now)
  assert.equal(board.isTaken('b', now + 999), true)
  board.apply([{ id: 'c', scheduleId: 's', status: 'held', heldUntil: now - 1 }], now)
  assert.equal(board.isTaken('c', now), false, 'a hold read after its deadline is not taken')
  board.recordHeld('s', 'd', now + 1000)
  board.forget('d')
  assert.equal(board.isTaken('d', now), false)
})

test('a read that began before this instance learned of a seat does not undo what it learned', () => {
  const board = new SeatBoard({ enabled: true })
  const now = 1_000_000
  board.recordSold('s', 'a')
  const started = board.readStarted()
  // A refund on this instance releases the seat while a poll that still sees it sold is in flight.
  board.forget('a')
  board.apply([{ id: 'a', scheduleId: 's', status: 'sold', heldUntil: undefined }], now, started)
  assert.equal(board.isTaken('a', now), false, 'the stale read left the released seat free')
  // A read that began after the release speaks for the seat again.
  board.apply([{ id: 'a', scheduleId: 's', status: 'sold', heldUntil: undefined }], now, board.readStarted())
  assert.equal(board.isTaken('a', now), true)
  // The same for a hold won here while a read that saw the seat free was in flight.
  const before = board.readStarted()
  board.recordHeld('s', 'b', now + 1000)
  board.apply([{ id: 'b', scheduleId: 's', status: 'available', heldUntil: undefined }], now, before)
  assert.equal(board.isTaken('b', now), true)
})

test('a board turned off never says taken', () => {
  const off = new SeatBoard({ enabled: false })
  off.recordHeld('s', 'a', Date.now() + 60_000)
  off.recordSold('s', 'b')
  assert.equal(off.isTaken('a'), false)
  assert.equal(off.isTaken('b'), false)
})
