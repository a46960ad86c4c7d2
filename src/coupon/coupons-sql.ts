import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'
import { isUniqueViolation } from '../platform/pg-errors.ts'

export interface CouponDefinition {
  id: string
  name: string
  discountType: 'fixed' | 'percent'
  discountValue: number
  totalQuantity: number
  issuedCount: number
}

export interface OwnedCoupon {
  id: string
  couponId: string
  name: string
  discountType: 'fixed' | 'percent'
  discountValue: number
  status: 'available' | 'used'
  issuedAt: Date
  usedAt: Date | null
}

export async function insertCoupon(
  db: Db,
  input: Omit<CouponDefinition, 'id' | 'issuedCount'>,
): Promise<CouponDefinition> {
  const id = uuidv7()
  await db
    .insertInto('coupons')
    .values({
      id,
      name: input.name,
      discount_type: input.discountType,
      discount_value: input.discountValue,
      total_quantity: input.totalQuantity,
    })
    .execute()
  return { id, ...input, issuedCount: 0 }
}

export async function findCoupon(db: Db, couponId: string): Promise<CouponDefinition> {
  const row = await db.selectFrom('coupons').selectAll().where('id', '=', couponId).executeTakeFirst()
  if (!row) throw new AppError('COUPON_NOT_FOUND')
  return {
    id: row.id,
    name: row.name,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    totalQuantity: row.total_quantity,
    issuedCount: row.issued_count,
  }
}

/** Coupons fans can still ask for (stock left), newest first: what the first-come coupon page offers. */
export async function listOpenCoupons(db: Db, limit: number): Promise<CouponDefinition[]> {
  const rows = await db
    .selectFrom('coupons')
    .selectAll()
    .whereRef('issued_count', '<', 'total_quantity')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    totalQuantity: row.total_quantity,
    issuedCount: row.issued_count,
  }))
}

/**
 * Issues one coupon to a user in the caller's transaction. Stock is taken by a conditional update (never below
 * zero) and ownership by a unique constraint (once per user), so concurrent issuers cannot over-issue.
 */
export async function issueCoupon(tx: Db, couponId: string, userId: string): Promise<{ id: string }> {
  const owned = await tx
    .selectFrom('user_coupons')
    .select('id')
    .where('coupon_id', '=', couponId)
    .where('user_id', '=', userId)
    .executeTakeFirst()
  if (owned) throw new AppError('COUPON_ALREADY_GRANTED')
  const stock = await tx
    .updateTable('coupons')
    .set((eb) => ({ issued_count: eb('issued_count', '+', 1) }))
    .where('id', '=', couponId)
    .whereRef('issued_count', '<', 'total_quantity')
    .returning('id')
    .executeTakeFirst()
  if (!stock) {
    await findCoupon(tx, couponId)
    throw new AppError('COUPON_SOLD_OUT')
  }
  const id = uuidv7()
  try {
    await tx.insertInto('user_coupons').values({ id, coupon_id: couponId, user_id: userId }).execute()
  } catch (error) {
    if (isUniqueViolation(error)) throw new AppError('COUPON_ALREADY_GRANTED')
    throw error
  }
  return { id }
}

/** Marks the user's coupon used for a reservation; COUPON_NOT_OWNED or COUPON_ALREADY_USED otherwise. */
export async function redeemCoupon(
  tx: Db,
  couponId: string,
  userId: string,
  reservationId: string,
): Promise<{ userCouponId: string; discountType: 'fixed' | 'percent'; discountValue: number }> {
  const row = await tx
    .selectFrom('user_coupons as uc')
    .innerJoin('coupons as c', 'c.id', 'uc.coupon_id')
    .select(['uc.id', 'uc.status', 'c.discount_type', 'c.discount_value'])
    .where('uc.coupon_id', '=', couponId)
    .where('uc.user_id', '=', userId)
    .forUpdate('uc')
    .executeTakeFirst()
  if (!row) throw new AppError('COUPON_NOT_OWNED')
  const used = await tx
    .updateTable('user_coupons')
    .set({ status: 'used', used_at: sql`now()`, used_by_reservation_id: reservationId })
    .where('id', '=', row.id)
    .where('status', '=', 'available')
    .returning('id')
    .executeTakeFirst()
  if (!used) throw new AppError('COUPON_ALREADY_USED')
  return { userCouponId: row.id, discountType: row.discount_type, discountValue: row.discount_value }
}

export async function listOwnedCoupons(db: Db, userId: string): Promise<OwnedCoupon[]> {
  const rows = await db
    .selectFrom('user_coupons as uc')
    .innerJoin('coupons as c', 'c.id', 'uc.coupon_id')
    .select([
      'uc.id',
      'uc.coupon_id',
      'c.name',
      'c.discount_type',
      'c.discount_value',
      'uc.status',
      'uc.issued_at',
      'uc.used_at',
    ])
    .where('uc.user_id', '=', userId)
    .orderBy('uc.issued_at')
    .execute()
  return rows.map((r) => ({
    id: r.id,
    couponId: r.coupon_id,
    name: r.name,
    discountType: r.discount_type,
    discountValue: r.discount_value,
    status: r.status,
    issuedAt: r.issued_at,
    usedAt: r.used_at,
  }))
}

export interface CouponRequest {
  requestId: string
  couponId: string
  userId: string
  status: 'pending' | 'issued' | 'rejected'
  reason: string | null
  requestedAt: string
  decidedAt: string | null
}

export async function findCouponRequest(db: Db, requestId: string): Promise<CouponRequest> {
  const r = await db.selectFrom('coupon_requests').selectAll().where('id', '=', requestId).executeTakeFirst()
  if (!r) throw new AppError('COUPON_REQUEST_NOT_FOUND')
  return {
    requestId: r.id,
    couponId: r.coupon_id,
    userId: r.user_id,
    status: r.status,
    reason: r.reason,
    requestedAt: r.requested_at.toISOString(),
    decidedAt: r.decided_at?.toISOString() ?? null,
  }
}
