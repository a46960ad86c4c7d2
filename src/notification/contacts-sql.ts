import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'

/** Devices per user; registering one more forgets the one registered longest ago. */
export const MAX_PUSH_TOKENS_PER_USER = 10

/** The user's verified phone, and the code being verified if any. */
export async function readPhone(db: Db, userId: string) {
  const [phone, pending] = await Promise.all([
    db
      .selectFrom('user_phones')
      .select(['phone_number', 'verified_at'])
      .where('user_id', '=', userId)
      .executeTakeFirst(),
    db
      .selectFrom('phone_verifications')
      .select(['phone_number', 'expires_at', 'send_status', 'send_error', 'attempts'])
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', sql<Date>`now()`)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst(),
  ])
  return { phone, pending }
}

export async function removePhone(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('user_phones').where('user_id', '=', userId).execute()
}

/**
 * Registers a device token for the user. A token names one app install: if another account registered it before
 * (a shared phone, a new sign-in), it moves to this user.
 */
export async function registerPushToken(
  db: Db,
  userId: string,
  token: string,
  platform: 'android' | 'ios' | 'web',
) {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .insertInto('push_tokens')
      .values({ id: uuidv7(), user_id: userId, token, platform, registered_at: sql`now()` })
      .onConflict((oc) =>
        oc.column('token').doUpdateSet({ user_id: userId, platform, registered_at: sql`now()` }),
      )
      .returning(['id', 'platform', 'created_at', 'registered_at'])
      .executeTakeFirstOrThrow()
    await tx
      .deleteFrom('push_tokens')
      .where('user_id', '=', userId)
      .where(
        'id',
        'not in',
        tx
          .selectFrom('push_tokens')
          .select('id')
          .where('user_id', '=', userId)
          .orderBy('registered_at', 'desc')
          .limit(MAX_PUSH_TOKENS_PER_USER),
      )
      .execute()
    return row
  })
}

export function listPushTokens(db: Db, userId: string) {
  return db
    .selectFrom('push_tokens')
    .select(['id', 'token', 'platform', 'created_at', 'registered_at'])
    .where('user_id', '=', userId)
    .orderBy('registered_at', 'desc')
    .execute()
}

export async function removePushToken(db: Db, userId: string, id: string): Promise<void> {
  const r = await db
    .deleteFrom('push_tokens')
    .where('user_id', '=', userId)
    .where('id', '=', id)
    .executeTakeFirst()
  if (Number(r.numDeletedRows) === 0) throw new AppError('PUSH_TOKEN_NOT_FOUND')
}
