import { v7 as uuidv7 } from 'uuid'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { isUniqueViolation } from '../platform/pg-errors.ts'
import { type CouponRequest, findCouponRequest } from './coupons-sql.ts'

/**
 * Records a first-come request and its coupon.issue-requested event in one transaction; answers at once.
 * One request per user and coupon: asking again returns the first request.
 */
export async function requestCoupon(
  db: Db,
  couponId: string,
  userId: string,
): Promise<{ request: CouponRequest; created: boolean }> {
  const coupon = await db.selectFrom('coupons').select('id').where('id', '=', couponId).executeTakeFirst()
  if (!coupon) throw new AppError('COUPON_NOT_FOUND')
  const id = uuidv7()
  try {
    await db.transaction().execute(async (tx) => {
      await tx.insertInto('coupon_requests').values({ id, coupon_id: couponId, user_id: userId }).execute()
      await appendToOutbox(tx, [
        buildEvent('coupon.issue-requested', couponId, {
          requestId: id,
          couponId,
          userId,
          requestedAt: new Date().toISOString(),
        }),
      ])
    })
    return { request: await findCouponRequest(db, id), created: true }
  } catch (error) {
    if (!isUniqueViolation(error)) throw error
    const existing = await db
      .selectFrom('coupon_requests')
      .select('id')
      .where('coupon_id', '=', couponId)
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow()
    return { request: await findCouponRequest(db, existing.id), created: false }
  }
}
