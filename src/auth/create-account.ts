import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'
import { isUniqueViolation } from '../platform/pg-errors.ts'
import type { PasswordHasher } from './passwords.ts'

export interface Account {
  id: string
  email: string
  name: string
}

/**
 * Creates a user and their empty wallet in one transaction; EMAIL_TAKEN when the address is registered. The password
 * is hashed first, so a taken address is not answered faster than a new one.
 */
export async function createAccount(
  db: Db,
  passwords: PasswordHasher,
  input: { email: string; name: string; password: string },
): Promise<Account> {
  return insertAccount(db, { ...input, passwordHash: await passwords.hash(input.password) })
}

/** The insert of createAccount, for a password already hashed. */
export async function insertAccount(
  db: Db,
  input: { email: string; name: string; passwordHash: string },
): Promise<Account> {
  const id = uuidv7()
  const email = input.email.toLowerCase()
  try {
    await db.transaction().execute(async (tx) => {
      await tx
        .insertInto('users')
        .values({ id, email, name: input.name, password_hash: input.passwordHash })
        .execute()
      await tx.insertInto('wallets').values({ user_id: id, balance: 0 }).execute()
    })
  } catch (error) {
    if (isUniqueViolation(error)) throw new AppError('EMAIL_TAKEN')
    throw error
  }
  return { id, email, name: input.name }
}
