import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { issueCoupon } from './coupons-sql.ts'

/** Gives a user one coupon (never past the total, once per user). */
export async function grantCoupon(db: Db, couponId: string, userId: string): Promise<{ id: string }> {
  return db.transaction().execute(async (tx) => {
    const user = await tx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst()
    if (!user) throw new AppError('USER_NOT_FOUND')
    return issueCoupon(tx, couponId, userId)
  })
}
