import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { Uuid } from '../platform/schemas.ts'
import { DiscountType } from './coupon-routes.ts'
import { findCoupon, insertCoupon } from './coupons-sql.ts'
import { grantCoupon } from './grant-coupon.ts'

const Coupon = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    discountType: DiscountType,
    discountValue: Type.Integer(),
    totalQuantity: Type.Integer(),
    issuedCount: Type.Integer(),
  },
  { $id: 'Coupon' },
)
/** The organizer's coupons: define, read, grant. */
export const couponAdminRoutes: Routes<{ db: Db }> = async (app, deps) => {
  app.addSchema(Coupon)
  app.post(
    '/admin/coupons',
    {
      schema: {
        summary: 'Define a coupon: a fixed or percentage discount with a total quantity',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            discountType: DiscountType,
            discountValue: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
            totalQuantity: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref('Coupon'), ...errorResponses('ADMIN_KEY_INVALID') },
      },
    },
    async (request, reply) => {
      if (request.body.discountType === 'percent' && request.body.discountValue > 100) {
        throw new AppError('VALIDATION_FAILED', 'A percentage discount is at most 100.', {
          field: 'discountValue',
        })
      }
      reply.status(201)
      return insertCoupon(deps.db, request.body)
    },
  )

  app.get(
    '/admin/coupons/:couponId',
    {
      schema: {
        summary: 'A coupon with its issued count',
        params: Type.Object({ couponId: Uuid }),
        response: { 200: Type.Ref('Coupon'), ...errorResponses('ADMIN_KEY_INVALID', 'COUPON_NOT_FOUND') },
      },
    },
    async (request) => {
      return findCoupon(deps.db, request.params.couponId)
    },
  )

  app.post(
    '/admin/coupons/:couponId/grants',
    {
      schema: {
        summary: 'Grant one coupon to a user (never past the total, once per user)',
        params: Type.Object({ couponId: Uuid }),
        body: Type.Object({ userId: Uuid }, { additionalProperties: false }),
        response: {
          201: Type.Object({ id: Uuid, couponId: Uuid, userId: Uuid }),
          ...errorResponses(
            'ADMIN_KEY_INVALID',
            'COUPON_NOT_FOUND',
            'USER_NOT_FOUND',
            'COUPON_SOLD_OUT',
            'COUPON_ALREADY_GRANTED',
          ),
        },
      },
    },
    async (request, reply) => {
      const { couponId } = request.params
      const { userId } = request.body
      const granted = await grantCoupon(deps.db, couponId, userId)
      reply.status(201)
      return { id: granted.id, couponId, userId }
    },
  )
}
