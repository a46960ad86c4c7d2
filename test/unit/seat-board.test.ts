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

test("an attempt on a seat waits for this instance's attempt in flight, which may settle it, and never for its failure", async () => {
  const board = new SeatBoard({ enabled: true })
  assert.equal(board.attemptInFlight('a'), undefined)
  let win!: () => void
  const first = board.trackAttempt(
    'a',
    new Promise<string>((resolve) => {
      win = () => {
        board.recordHeld('s', 'a', Date.now() + 60_000)
        resolve('won')
      }
    }),
  )
  const ahead = board.attemptInFlight('a')
  assert.ok(ahead, 'the first attempt is in flight')
  assert.equal(board.attemptInFlight('b'), undefined, 'only on its own seat')
  let waited = false
  const behind = ahead.then(() => {
    waited = true
    return board.isTaken('a')
  })
  await new Promise((r) => setImmediate(r))
  assert.equal(waited, false, 'the attempt behind waits while the first is at the database')
  win()
  assert.equal(await first, 'won', 'the first attempt answers its own caller unchanged')
  assert.equal(await behind, true, 'the attempt behind is answered from what the first one learned')
  assert.equal(board.attemptInFlight('a'), undefined, 'a settled attempt is forgotten')

  const failing = board.trackAttempt('c', Promise.reject(new Error('not admitted')))
  await board.attemptInFlight('c')
  await assert.rejects(failing, /not admitted/, 'the failure reaches only its own caller')
  assert.equal(board.isTaken('c'), false, 'after a failed attempt the next one goes to the database itself')

  const off = new SeatBoard({ enabled: false })
  void off.trackAttempt('a', new Promise(() => {}))
  assert.equal(off.attemptInFlight('a'), undefined, 'a board turned off makes nobody wait')
})
