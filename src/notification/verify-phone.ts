import { randomInt, timingSafeEqual } from 'node:crypto'
import { sql } from 'kysely'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'
import { normalizeKoreanMobile } from './phone-numbers.ts'

export interface PhoneCodeRules {
  ttlSeconds: number
  maxAttempts: number
  maxPerHour: number
}

/**
 * Starts verifying a phone number: a 6-digit code, valid `ttlSeconds`, is stored with its request event in one
 * transaction (the SMS channel sends it; the code never travels in the event). At most `maxPerHour` codes per user
 * and per number, so nobody can use the service to flood a phone. A new code replaces the pending one.
 */
export async function requestPhoneCode(db: Db, userId: string, input: string, rules: PhoneCodeRules) {
  const phone = normalizeKoreanMobile(input)
  if (!phone) {
    throw new AppError('VALIDATION_FAILED', 'phoneNumber: a Korean mobile number such as 010-1234-5678.', {
      field: 'phoneNumber',
    })
  }
  return db.transaction().execute(async (tx) => {
    // One request per user at a time, so two at once cannot both pass the hourly limit. FOR NO KEY UPDATE, not FOR
    // UPDATE: the fan's holds and payments in flight (and the batches they ride in) take FOR KEY SHARE on this row
    // for their foreign keys, and neither should wait for the other.
    await tx.selectFrom('users').select('id').where('id', '=', userId).forNoKeyUpdate().executeTakeFirst()
    const recent = await tx
      .selectFrom('phone_verifications')
      .select([sql<number>`count(*)::int`.as('n'), sql<Date | null>`min(created_at)`.as('oldest')])
      .where((eb) => eb.or([eb('user_id', '=', userId), eb('phone_number', '=', phone)]))
      .where('created_at', '>', sql<Date>`now() - interval '1 hour'`)
      .executeTakeFirstOrThrow()
    if (recent.n >= rules.maxPerHour) {
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil(((recent.oldest?.getTime() ?? Date.now()) + 3_600_000 - Date.now()) / 1000),
      )
      throw new AppError('RATE_LIMITED', `At most ${rules.maxPerHour} codes an hour; try again later.`, {
        retryAfterSeconds,
      })
    }
    await tx
      .updateTable('phone_verifications')
      .set({ status: 'superseded', code: null })
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .execute()
    const id = uuidv7()
    const row = await tx
      .insertInto('phone_verifications')
      .values({
        id,
        user_id: userId,
        phone_number: phone,
        code: String(randomInt(0, 1_000_000)).padStart(6, '0'),
        expires_at: sql`now() + make_interval(secs => ${rules.ttlSeconds})`,
      })
      .returning(['expires_at'])
      .executeTakeFirstOrThrow()
    await appendToOutbox(tx, [
      buildEvent('phone.verification-requested', userId, { verificationId: id, userId }),
    ])
    return { verificationId: id, phoneNumber: phone, expiresAt: row.expires_at.toISOString() }
  })
}

/**
 * Confirms the pending code. A wrong code counts against `maxAttempts` (the count is committed before the answer),
 * after which the code is dead and a new one must be asked for; a right code makes the number the user's verified one.
 */
export async function confirmPhoneCode(db: Db, userId: string, code: string, rules: PhoneCodeRules) {
  const outcome = await db.transaction().execute(async (tx) => {
    const v = await tx
      .selectFrom('phone_verifications')
      .select([
        'id',
        'phone_number',
        'code',
        'attempts',
        'expires_at',
        sql<boolean>`expires_at <= now()`.as('expired'),
      ])
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .orderBy('created_at', 'desc')
      .limit(1)
      .forUpdate()
      .executeTakeFirst()
    if (!v?.code) return { error: 'PHONE_VERIFICATION_NOT_FOUND' as const }
    if (v.expired) return { error: 'PHONE_CODE_EXPIRED' as const }
    const given = Buffer.from(code)
    const right = given.length === v.code.length && timingSafeEqual(given, Buffer.from(v.code))
    if (!right) {
      const attempts = v.attempts + 1
      const locked = attempts >= rules.maxAttempts
      await tx
        .updateTable('phone_verifications')
        .set({ attempts, ...(locked ? { status: 'locked', code: null } : {}) })
        .where('id', '=', v.id)
        .execute()
      return locked
        ? { error: 'PHONE_CODE_ATTEMPTS_EXCEEDED' as const }
        : { error: 'PHONE_CODE_INVALID' as const, attemptsLeft: rules.maxAttempts - attempts }
    }
    await tx
      .updateTable('phone_verifications')
      .set({ status: 'verified', code: null, verified_at: sql`now()` })
      .where('id', '=', v.id)
      .execute()
    const phone = await tx
      .insertInto('user_phones')
      .values({ user_id: userId, phone_number: v.phone_number, verified_at: sql`now()` })
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet({ phone_number: v.phone_number, verified_at: sql`now()` }),
      )
      .returning(['phone_number', 'verified_at'])
      .executeTakeFirstOrThrow()
    return { phoneNumber: phone.phone_number, verifiedAt: phone.verified_at.toISOString() }
  })
  if ('error' in outcome && outcome.error) {
    throw new AppError(
      outcome.error,
      undefined,
      'attemptsLeft' in outcome ? { attemptsLeft: outcome.attemptsLeft } : undefined,
    )
  }
  return outcome as { phoneNumber: string; verifiedAt: string }
}
