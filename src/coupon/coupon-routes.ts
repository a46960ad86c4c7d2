import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Pagination, Uuid } from '../platform/schemas.ts'
import { listOpenCoupons, listOwnedCoupons } from './coupons-sql.ts'

export const DiscountType = Type.Union([Type.Literal('fixed'), Type.Literal('percent')])
const OwnedCoupon = Type.Object(
  {
    id: Uuid,
    couponId: Uuid,
    name: Type.String(),
    discountType: DiscountType,
    discountValue: Type.Integer(),
    status: Type.Union([Type.Literal('available'), Type.Literal('used')]),
    issuedAt: DateTime,
    usedAt: Type.Union([DateTime, Type.Null()]),
  },
  { $id: 'OwnedCoupon' },
)

const OpenCoupon = Type.Object({
  id: Uuid,
  name: Type.String(),
  discountType: DiscountType,
  discountValue: Type.Integer(),
  totalQuantity: Type.Integer(),
  issuedCount: Type.Integer(),
})

export const couponRoutes: Routes<{ db: Db; guard: Guard }> = async (app, deps) => {
  app.addSchema(OwnedCoupon)

  app.get(
    '/coupons',
    {
      schema: {
        tags: ['coupon'],
        summary: 'First-come coupons with stock left (ask for one with POST /coupons/{id}/requests)',
        querystring: Type.Object(Pagination),
        response: { 200: Type.Object({ coupons: Type.Array(OpenCoupon) }), ...errorResponses() },
      },
    },
    async (request) => ({ coupons: await listOpenCoupons(deps.db, request.query.limit ?? 50) }),
  )

  app.get(
    '/users/:userId/coupons',
    {
      schema: {
        tags: ['coupon'],
        security: [{ bearer: [] }],
        summary: 'Coupons you own',
        params: Type.Object({ userId: Uuid }),
        response: {
          200: Type.Object({ coupons: Type.Array(Type.Ref('OwnedCoupon')) }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      const coupons = await listOwnedCoupons(deps.db, userId)
      return {
        coupons: coupons.map((c) => ({
          ...c,
          issuedAt: c.issuedAt.toISOString(),
          usedAt: c.usedAt?.toISOString() ?? null,
        })),
      }
    },
  )
}
