import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import type { Account } from './create-account.ts'
import type { PasswordHasher } from './passwords.ts'

/**
 * The account whose email and password these are; INVALID_CREDENTIALS otherwise. An unknown address costs the same
 * hash as a known one. A hash with outdated parameters is redone in the background when the pool has room.
 */
export async function signIn(
  db: Db,
  passwords: PasswordHasher,
  input: { email: string; password: string },
  logger?: Logger,
): Promise<Account> {
  const row = await db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'password_hash'])
    .where('email', '=', input.email.toLowerCase())
    .executeTakeFirst()
  const { ok, outdated } = await passwords.verify(input.password, row?.password_hash)
  if (!row || !ok) throw new AppError('INVALID_CREDENTIALS')
  if (outdated && passwords.idle()) {
    rehash(db, passwords, row.id, row.password_hash, input.password).catch((error: unknown) =>
      logger?.warn({ err: error, userId: row.id }, 'password rehash failed'),
    )
  }
  return { id: row.id, email: row.email, name: row.name }
}

/** Replaces the hash unless it changed meanwhile (another sign-in rehashed it, or the password was changed). */
async function rehash(db: Db, passwords: PasswordHasher, userId: string, old: string, password: string) {
  const fresh = await passwords.hash(password)
  await db
    .updateTable('users')
    .set({ password_hash: fresh })
    .where('id', '=', userId)
    .where('password_hash', '=', old)
    .execute()
}
