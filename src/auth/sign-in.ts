import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import type { Account } from './create-account.ts'
import { verifyPassword } from './passwords.ts'

/** The account whose email and password these are; INVALID_CREDENTIALS otherwise. */
export async function signIn(db: Db, input: { email: string; password: string }): Promise<Account> {
  const row = await db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'password_hash'])
    .where('email', '=', input.email.toLowerCase())
    .executeTakeFirst()
  if (!row || !(await verifyPassword(input.password, row.password_hash))) {
    throw new AppError('INVALID_CREDENTIALS')
  }
  return { id: row.id, email: row.email, name: row.name }
}
