import type { FastifyPluginAsync } from 'fastify'
import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type HttpServer } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { findCoupon, insertCoupon, issueCoupon, listOwnedCoupons } from './coupon-repository.ts'

const DiscountType = Type.Union([Type.Literal('fixed'), Type.Literal('percent')])
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

export function couponRoutes(deps: { db: Db; guard: Guard }): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify as unknown as HttpServer
    app.addSchema(Coupon)
    app.addSchema(OwnedCoupon)
    const admin = { tags: ['organizer'], security: [{ adminKey: [] }] }

    app.post(
      '/admin/coupons',
      {
        schema: {
          ...admin,
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
        deps.guard.admin(request)
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
          ...admin,
          summary: 'A coupon with its issued count',
          params: Type.Object({ couponId: Uuid }),
          response: { 200: Type.Ref('Coupon'), ...errorResponses('ADMIN_KEY_INVALID', 'COUPON_NOT_FOUND') },
        },
      },
      async (request) => {
        deps.guard.admin(request)
        return findCoupon(deps.db, request.params.couponId)
      },
    )

    app.post(
      '/admin/coupons/:couponId/grants',
      {
        schema: {
          ...admin,
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
        deps.guard.admin(request)
        const { couponId } = request.params
        const { userId } = request.body
        const granted = await deps.db.transaction().execute(async (tx) => {
          const user = await tx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst()
          if (!user) throw new AppError('USER_NOT_FOUND')
          return issueCoupon(tx, couponId, userId)
        })
        reply.status(201)
        return { id: granted.id, couponId, userId }
      },
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
}
