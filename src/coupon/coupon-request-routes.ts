import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { DatabaseHandle, Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { findCouponRequest } from './coupons-sql.ts'
import { requestCoupon } from './request-coupon.ts'

const CouponRequest = Type.Object(
  {
    requestId: Uuid,
    couponId: Uuid,
    userId: Uuid,
    status: Type.Union([Type.Literal('pending'), Type.Literal('issued'), Type.Literal('rejected')]),
    reason: Type.Union([Type.String({ description: 'SOLD_OUT or ALREADY_OWNED' }), Type.Null()]),
    requestedAt: DateTime,
    decidedAt: Type.Union([DateTime, Type.Null()]),
  },
  { $id: 'CouponRequest' },
)

export const couponRequestRoutes: Routes<{ db: Db; database: DatabaseHandle; guard: Guard }> = async (
  app,
  deps,
) => {
  app.addSchema(CouponRequest)
  const secured = { tags: ['coupon'], security: [{ bearer: [] }] }

  app.post(
    '/coupons/:couponId/requests',
    {
      schema: {
        ...secured,
        summary: 'Ask for a first-come coupon: answered at once with a request id, decided in arrival order',
        params: Type.Object({ couponId: Uuid }),
        response: {
          202: Type.Ref('CouponRequest'),
          200: Type.Ref('CouponRequest'),
          ...errorResponses('UNAUTHENTICATED', 'COUPON_NOT_FOUND'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      const result = await requestCoupon(deps.database, request.params.couponId, userId)
      reply.status(result.created ? 202 : 200)
      return result.request
    },
  )

  app.get(
    '/coupon-requests/:requestId',
    {
      schema: {
        ...secured,
        summary: 'Whether your coupon request was issued or rejected (with the reason)',
        params: Type.Object({ requestId: Uuid }),
        response: {
          200: Type.Ref('CouponRequest'),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN', 'COUPON_REQUEST_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.user(request)
      const found = await findCouponRequest(deps.db, request.params.requestId)
      if (found.userId !== userId) throw new AppError('FORBIDDEN')
      return found
    },
  )
}
