import assert from 'node:assert/strict'
import { test } from 'node:test'
import { v7 as uuidv7 } from 'uuid'
import { createLogger } from '../../src/platform/logger.ts'
import { QueueWatch, queueWatchTask } from '../../src/queue/queue-watch.ts'
import { createTestDatabase } from '../support/databases.ts'
import { seedSale } from '../support/fans.ts'
import { openTransaction } from '../support/locks.ts'
import { waitFor } from '../support/wait.ts'

// An instance learns from the database which admissions others spent or gave back. A revocation's number is taken
// when its row is inserted, but it is seen only once its transaction commits, which may be after a later number's:
// the watch must still learn it, at start and while running. And a poll reads only revocations it has not seen.
// PostgreSQL only: PGlite has one connection, so no transaction stays open beside the watch's reads.
test('the queue watch learns revocations that commit after later ones, and reads each once [postgres]', async (t) => {
  const database = await createTestDatabase('postgres', 'queue_watch_revocations', 4)
  t.after(() => database.close())
  const db = database.db
  const { scheduleId } = await seedSale(db, { seats: 1, fans: 0, price: 1_000, points: 0 })
  const revoke = (user: string, entrySeq: number) =>
    db
      .insertInto('queue_revocations')
      .values({ schedule_id: scheduleId, user_id: user, entry_seq: entrySeq, reason: 'paid' })
  // A revocation whose transaction takes its number, then stays open while a later one commits.
  const late = (user: string, entrySeq: number) =>
    openTransaction(
      database.pool!,
      `insert into queue_revocations (schedule_id, user_id, entry_seq, reason) values ($1, $2, $3, 'left')`,
      [scheduleId, user, entrySeq],
    )

  const watch = new QueueWatch(600_000)
  let revocationsRead = 0
  let polls = 0
  const revokeOne = watch.revoke.bind(watch)
  watch.revoke = (...args) => {
    revocationsRead++
    revokeOne(...args)
  }
  const advance = watch.advance.bind(watch)
  watch.advance = (...args) => {
    if (args[0] === scheduleId) polls++
    advance(...args)
  }
  const [lateAtStart, onTimeAtStart, lateRunning, onTimeRunning] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()]

  // At start: the watch's first read sees where the revocations stand with one of them still uncommitted below.
  const atStart = await late(lateAtStart, 1)
  await revoke(onTimeAtStart, 2).execute()
  const task = queueWatchTask(db, watch, createLogger('silent'), { pollMs: 5, tokenTtlSeconds: 600 })
  task.start()
  t.after(() => task.stop())
  await waitFor('the committed revocation seen at start', () => watch.isRevoked(scheduleId, onTimeAtStart, 2))
  assert.equal(watch.isRevoked(scheduleId, lateAtStart, 1), false)
  await atStart.commit()
  await waitFor('the late one seen once committed', () => watch.isRevoked(scheduleId, lateAtStart, 1))

  // Running: the same, with numbers taken after the watch's last.
  const running = await late(lateRunning, 3)
  await revoke(onTimeRunning, 4).execute()
  await waitFor('the later revocation seen', () => watch.isRevoked(scheduleId, onTimeRunning, 4))
  assert.equal(watch.isRevoked(scheduleId, lateRunning, 3), false)
  await running.commit()
  await waitFor('the earlier one seen once committed', () => watch.isRevoked(scheduleId, lateRunning, 3))

  // Each of the four was read once, and no poll after reads any of them again.
  const read = revocationsRead
  const pollsThen = polls
  await waitFor('ten more polls', () => polls >= pollsThen + 10)
  assert.equal(read, 4, 'each revocation read once')
  assert.equal(revocationsRead, 4, 'the polls after read none again')
})
