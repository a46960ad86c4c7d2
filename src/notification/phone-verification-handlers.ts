import { sql } from 'kysely'
import { type ExternalHandler, NonRetryableError } from '../events/index.ts'
import type { SmsClient } from './sms-channel.ts'

/**
 * Sends a phone verification code by SMS, once per request event (its id is the call's idempotency key); a code
 * that expired or was replaced meanwhile is not sent. The row keeps whether it went out and the last error.
 */
export function phoneVerificationSender(
  sms: SmsClient | undefined,
  ttlSeconds: number,
): ExternalHandler<'phone.verification-requested'> {
  return {
    group: 'phone-verification',
    topic: 'phone.verification-requested',
    mode: 'external',
    async handle(event, { db, eventId, signal }) {
      const v = await db
        .selectFrom('phone_verifications')
        .select(['id', 'phone_number', 'code', 'send_status', sql<boolean>`expires_at > now()`.as('live')])
        .where('id', '=', event.data.verificationId)
        .where('status', '=', 'pending')
        .executeTakeFirst()
      if (!v?.code || !v.live || v.send_status === 'sent') return
      if (!sms) throw new NonRetryableError('the SMS channel is not configured')
      try {
        await sms.sendCode(v.phone_number, v.code, ttlSeconds, eventId, signal)
      } catch (error) {
        await db
          .updateTable('phone_verifications')
          .set({ send_error: (error as Error).message.slice(0, 500) })
          .where('id', '=', v.id)
          .execute()
        throw error
      }
      await db
        .updateTable('phone_verifications')
        .set({ send_status: 'sent', sent_at: sql`now()`, send_error: null })
        .where('id', '=', v.id)
        .execute()
    },
    async onDeadLetter(event, error, db) {
      if (!event) return
      await db
        .updateTable('phone_verifications')
        .set({ send_status: 'failed', send_error: error.slice(0, 500) })
        .where('id', '=', event.data.verificationId)
        .execute()
    },
  }
}
