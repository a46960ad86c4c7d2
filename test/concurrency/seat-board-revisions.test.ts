import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeatBoard, seatBoardTask } from '../../src/booking/seat-board.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createTestDatabase } from '../support/databases.ts'
import { seedSale } from '../support/fans.ts'
import { openTransaction } from '../support/locks.ts'
import { waitFor } from '../support/wait.ts'

// An instance's board of taken seats follows the seats' revisions. A revision is taken when the seat's row is
// updated and seen when that transaction commits, which may be after a later revision's: the board must still learn
// it, at start and while running, and read each change once. PostgreSQL only: PGlite has one connection, so no
// transaction stays open beside the board's reads.
test('the seat board learns seat changes that commit after later ones, and reads each once [postgres]', async (t) => {
  const database = await createTestDatabase('postgres', 'seat_board_revisions', 4)
  t.after(() => database.close())
  const db = database.db
  const { seats } = await seedSale(db, { seats: 4, fans: 0, price: 1_000, points: 0 })
  const sell = `update seats set status = 'sold', reservation_id = gen_random_uuid() where id = $1`
  // A sale whose transaction takes the seat's revision, then stays open while a later one commits.
  const late = (seatId: string) => openTransaction(database.pool!, sell, [seatId])
  const sellNow = (seatId: string) => database.pool!.query(sell, [seatId])

  const board = new SeatBoard({ enabled: true })
  let polls = 0
  const read: string[] = []
  const apply = board.apply.bind(board)
  board.apply = (changes, ...rest) => {
    polls++
    for (const c of changes) read.push(c.id)
    apply(changes, ...rest)
  }
  const [lateAtStart, onTimeAtStart, lateRunning, onTimeRunning] = seats as [string, string, string, string]

  // At start: the board reads where the revisions stand with one of them still uncommitted below.
  const atStart = await late(lateAtStart)
  await sellNow(onTimeAtStart)
  const task = seatBoardTask(database, board, createLogger('silent'), 5)
  await task.start()
  t.after(() => task.stop())
  await waitFor('the committed sale seen at start', () => board.isTaken(onTimeAtStart))
  assert.equal(board.isTaken(lateAtStart), false)
  await atStart.commit()
  await waitFor('the late one seen once committed', () => board.isTaken(lateAtStart))

  // Running: the same, with revisions taken after the board's last.
  const running = await late(lateRunning)
  await sellNow(onTimeRunning)
  await waitFor('the later sale seen', () => board.isTaken(onTimeRunning))
  assert.equal(board.isTaken(lateRunning), false)
  await running.commit()
  await waitFor('the earlier one seen once committed', () => board.isTaken(lateRunning))

  // No poll after reads any change again.
  const readThen = read.length
  const pollsThen = polls
  await waitFor('ten more polls', () => polls >= pollsThen + 10)
  assert.deepEqual(read.slice(readThen), [], 'the polls after read nothing again')
})
