import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { SeatBoard } from '../booking/seat-board.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, IdempotencyHeaders, QueueTokenHeaders, Uuid } from '../platform/schemas.ts'
import type { QueueWatch } from '../queue/queue-watch.ts'
import { payReservation } from './pay-reservation.ts'

const Receipt = Type.Object(
  {
    paymentId: Uuid,
    reservationId: Uuid,
    scheduleId: Uuid,
    seatId: Uuid,
    seatLabel: Type.String(),
    price: Type.Integer(),
    discount: Type.Integer(),
    amount: Type.Integer({ description: 'points taken' }),
    couponId: Type.Union([Uuid, Type.Null()]),
    balance: Type.Integer({ description: 'balance after the payment' }),
    confirmedAt: DateTime,
  },
  { $id: 'PaymentReceipt' },
)

export const paymentRoutes: Routes<{
  database: DatabaseHandle
  guard: Guard
  board: SeatBoard
  watch: QueueWatch
}> = async (app, deps) => {
  app.addSchema(Receipt)

  app.post(
    '/reservations/:reservationId/payment',
    {
      schema: {
        tags: ['payment'],
        security: [{ bearer: [], queueToken: [] }],
        summary:
          'Pay a held seat with points, optionally with an owned coupon (idempotent by Idempotency-Key)',
        params: Type.Object({ reservationId: Uuid }),
        // the queue token is optional here so that a missing one answers 401 QUEUE_TOKEN_INVALID, not 400
        headers: Type.Object({
          ...IdempotencyHeaders.properties,
          ...Type.Partial(QueueTokenHeaders).properties,
        }),
        body: Type.Object({ couponId: Type.Optional(Uuid) }, { additionalProperties: false }),
        response: {
          201: Type.Ref('PaymentReceipt'),
          ...errorResponses(
            'UNAUTHENTICATED',
            'QUEUE_TOKEN_INVALID',
            'QUEUE_TOKEN_EXPIRED',
            'QUEUE_NOT_ADMITTED',
            'QUEUE_TOKEN_REVOKED',
            'FORBIDDEN',
            'RESERVATION_NOT_FOUND',
            'HOLD_EXPIRED',
            'RESERVATION_NOT_PAYABLE',
            'INSUFFICIENT_POINTS',
            'COUPON_NOT_OWNED',
            'COUPON_ALREADY_USED',
            'IDEMPOTENCY_KEY_REUSED',
          ),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      const claims = deps.guard.admitted(request, userId, undefined, { acceptRevoked: true })
      const result = await payReservation(deps, {
        reservationId: request.params.reservationId,
        userId,
        scheduleId: claims.scheduleId,
        couponId: request.body?.couponId ?? null,
        idempotencyKey: String(request.headers['idempotency-key']),
      })
      if (result.replayed) reply.header('idempotent-replayed', 'true')
      reply.code(result.status as 201)
      return result.body
    },
  )
}
