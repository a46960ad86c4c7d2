import assert from 'node:assert/strict'
import { test } from 'node:test'
import { v7 as uuidv7 } from 'uuid'
import { requestPhoneCode } from '../../src/notification/verify-phone.ts'
import { createTestDatabase } from '../support/databases.ts'
import { openTransaction, withoutWaitingForLocks } from '../support/locks.ts'

// A phone-code request takes turns with the fan's other phone-code requests on the user's row. A fan's hold or
// payment in flight meanwhile holds FOR KEY SHARE on that row (their foreign keys to users), and a whole batch of
// other fans' holds or payments with it: neither may wait for the other. PostgreSQL only: PGlite has one connection.
test("a phone-code request goes on beside a batch that holds the user's row for its foreign keys [postgres]", async () => {
  const database = await createTestDatabase('postgres', 'phone_code_lock', 4)
  try {
    const userId = uuidv7()
    await database.db
      .insertInto('users')
      .values({ id: userId, email: `${userId}@seed.test`, name: 'fan', password_hash: 'x' })
      .execute()
    // What a payment's ledger line or a hold's reservation takes on the user's row, in a transaction still open.
    const batch = await openTransaction(database.pool!, 'select 1 from users where id = $1 for key share', [
      userId,
    ])
    let requested: string
    try {
      requested = await withoutWaitingForLocks(database.db, async (connection) => {
        const code = await requestPhoneCode(connection, userId, '010-1234-5678', {
          ttlSeconds: 180,
          maxAttempts: 5,
          maxPerHour: 5,
        })
        return code.phoneNumber
      })
    } finally {
      await batch.rollback()
    }
    assert.equal(requested, '+821012345678')
  } finally {
    await database.close()
  }
})
