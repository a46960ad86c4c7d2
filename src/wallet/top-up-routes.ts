import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Points, Uuid } from '../platform/schemas.ts'
import { confirmTopUp, createTopUpOrder } from './confirm-top-up.ts'
import type { TopUpOrder } from './top-ups-sql.ts'
import type { PaymentProvider } from './toss-payments.ts'

const OrderId = Type.String({ pattern: '^[A-Za-z0-9_-]{6,64}$', description: 'orderId for the provider' })
const TopUp = Type.Object(
  {
    orderId: OrderId,
    amount: Type.Integer({ description: 'points, paid as the same number of won' }),
    status: Type.Union([Type.Literal('pending'), Type.Literal('paid')]),
    createdAt: DateTime,
    paidAt: Type.Union([DateTime, Type.Null()]),
  },
  { $id: 'TopUp' },
)
const asJson = (o: TopUpOrder) => ({
  orderId: o.orderId,
  amount: o.amount,
  status: o.status,
  createdAt: o.createdAt.toISOString(),
  paidAt: o.paidAt ? o.paidAt.toISOString() : null,
})

/** Paid top-ups: an order, paid by the client with the provider (Toss Payments), then confirmed here once. */
export const topUpRoutes: Routes<{ db: Db; guard: Guard; provider: PaymentProvider | undefined }> = async (
  app,
  deps,
) => {
  app.addSchema(TopUp)
  const secured = { security: [{ bearer: [] }], tags: ['wallet'] }
  const provider = () => {
    if (!deps.provider) throw new AppError('TOP_UP_NOT_CONFIGURED')
    return deps.provider
  }

  app.post(
    '/users/:userId/wallet/top-ups',
    {
      schema: {
        ...secured,
        summary: 'Start buying points: an order whose orderId and amount the client pays with Toss Payments',
        params: Type.Object({ userId: Uuid }),
        body: Type.Object({ amount: Points }, { additionalProperties: false }),
        response: {
          201: Type.Ref('TopUp'),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN', 'TOP_UP_NOT_CONFIGURED'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.self(request, request.params.userId)
      provider()
      const order = await createTopUpOrder(deps.db, userId, request.body.amount)
      reply.status(201)
      return asJson(order)
    },
  )

  app.post(
    '/users/:userId/wallet/top-ups/:orderId/confirm',
    {
      schema: {
        ...secured,
        summary: 'Confirm the paid order with the provider and credit the points once (repeating it is safe)',
        params: Type.Object({ userId: Uuid, orderId: OrderId }),
        body: Type.Object(
          {
            paymentKey: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' }),
            amount: Points,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ topUp: Type.Ref('TopUp'), balance: Type.Integer() }),
          ...errorResponses(
            'UNAUTHENTICATED',
            'FORBIDDEN',
            'TOP_UP_NOT_CONFIGURED',
            'TOP_UP_ORDER_NOT_FOUND',
            'TOP_UP_AMOUNT_MISMATCH',
            'TOP_UP_ALREADY_CONFIRMED',
            'TOP_UP_PAYMENT_REFUSED',
            'PAYMENT_PROVIDER_UNAVAILABLE',
          ),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      const result = await confirmTopUp(deps.db, provider(), userId, request.params.orderId, request.body)
      return { topUp: asJson(result.order), balance: result.balance }
    },
  )
}
