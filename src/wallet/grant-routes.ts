import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { runIdempotent } from '../platform/idempotency.ts'
import { IdempotencyHeaders, Points, Uuid } from '../platform/schemas.ts'
import { chargePoints } from './charge-points.ts'
import { LedgerEntryFields, ledgerEntryJson } from './wallet-routes.ts'

/** An organizer gives a fan points (a refund, a prize): a ledger line of kind `grant`, once per Idempotency-Key. */
export const grantRoutes: Routes<{ db: Db }> = async (app, deps) => {
  app.post(
    '/admin/users/:userId/wallet/grants',
    {
      schema: {
        summary: "Grant points to a fan's wallet (idempotent by Idempotency-Key)",
        params: Type.Object({ userId: Uuid }),
        headers: IdempotencyHeaders,
        body: Type.Object(
          { amount: Points, reason: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ entry: Type.Object(LedgerEntryFields), balance: Type.Integer() }),
          ...errorResponses('ADMIN_KEY_INVALID', 'USER_NOT_FOUND', 'IDEMPOTENCY_KEY_REUSED'),
        },
      },
    },
    async (request, reply) => {
      const { userId } = request.params
      const key = request.headers['idempotency-key']
      const result = await runIdempotent(
        deps.db,
        { userId, scope: 'wallet.grant', key, request: request.body },
        async (tx) => {
          const entry = await chargePoints(
            tx,
            userId,
            request.body.amount,
            `grant: ${request.body.reason}`,
            'grant',
          )
          return { status: 201, body: { entry: ledgerEntryJson(entry), balance: entry.balanceAfter } }
        },
      )
      if (result.replayed) reply.header('idempotent-replayed', 'true')
      reply.code(result.status as 201)
      return result.body
    },
  )
}
