import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { SeatBoard } from '../booking/seat-board.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { refundReservation } from './refund-reservation.ts'

/** Shared by the fan's and the organizer's refund routes, so added at the root. */
export const RefundReceiptSchema = Type.Object(
  {
    reservationId: Uuid,
    paymentId: Uuid,
    scheduleId: Uuid,
    seatId: Uuid,
    seatLabel: Type.String(),
    userId: Uuid,
    amount: Type.Integer({ description: 'points given back' }),
    couponId: Type.Union([Uuid, Type.Null()], { description: 'the coupon the payment used' }),
    couponRestored: Type.Boolean({ description: 'the coupon can be used again' }),
    refundedBy: Type.Union([Type.Literal('fan'), Type.Literal('organizer')]),
    reason: Type.Union([Type.String(), Type.Null()]),
    refundedAt: DateTime,
  },
  { $id: 'RefundReceipt' },
)

const Reason = Type.Optional(Type.String({ minLength: 1, maxLength: 500 }))
const Params = Type.Object({ reservationId: Uuid })

type RefundDeps = { database: DatabaseHandle; board: SeatBoard }

/** A fan refunds their own paid seat, until REFUND_CUTOFF_HOURS before the show. */
export const refundRoutes: Routes<RefundDeps & { guard: Guard; cutoffHours: number }> = async (app, deps) => {
  app.post(
    '/reservations/:reservationId/refund',
    {
      schema: {
        tags: ['payment'],
        security: [{ bearer: [] }],
        summary:
          'Cancel and refund your paid reservation (until the cut-off before the show); asking again answers the same refund',
        description:
          'The points the payment took come back to the wallet (a ledger entry of kind refund), the seat goes back on ' +
          'sale (first to the waiting list). A coupon used for the payment is not restored on a fan refund.',
        params: Params,
        body: Type.Optional(Type.Object({ reason: Reason }, { additionalProperties: false })),
        response: {
          200: Type.Ref('RefundReceipt'),
          ...errorResponses(
            'UNAUTHENTICATED',
            'FORBIDDEN',
            'RESERVATION_NOT_FOUND',
            'RESERVATION_NOT_REFUNDABLE',
            'REFUND_WINDOW_CLOSED',
          ),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      const { receipt, replayed } = await refundReservation(deps, request.params.reservationId, {
        by: 'fan',
        userId,
        cutoffHours: deps.cutoffHours,
        reason: request.body?.reason ?? null,
      })
      if (replayed) reply.header('idempotent-replayed', 'true')
      return receipt
    },
  )
}

/** The organizer cancels and refunds any paid reservation, at any time. */
export const refundAdminRoutes: Routes<RefundDeps> = async (app, deps) => {
  app.post(
    '/admin/reservations/:reservationId/refund',
    {
      schema: {
        summary: 'Cancel and refund a paid reservation at any time; asking again answers the same refund',
        description:
          'Points back through the ledger, the seat back on sale (first to the waiting list), and the coupon the ' +
          'payment used restored unless restoreCoupon is false.',
        params: Params,
        body: Type.Optional(
          Type.Object(
            {
              restoreCoupon: Type.Optional(Type.Boolean({ default: true })),
              reason: Reason,
            },
            { additionalProperties: false },
          ),
        ),
        response: {
          200: Type.Ref('RefundReceipt'),
          ...errorResponses('ADMIN_KEY_INVALID', 'RESERVATION_NOT_FOUND', 'RESERVATION_NOT_REFUNDABLE'),
        },
      },
    },
    async (request, reply) => {
      const { receipt, replayed } = await refundReservation(deps, request.params.reservationId, {
        by: 'organizer',
        restoreCoupon: request.body?.restoreCoupon ?? true,
        reason: request.body?.reason ?? null,
      })
      if (replayed) reply.header('idempotent-replayed', 'true')
      return receipt
    },
  )
}
