import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { runIdempotent } from '../platform/idempotency.ts'
import { DateTime, IdempotencyHeaders, Pagination, Points, Uuid } from '../platform/schemas.ts'
import { chargePoints } from './charge-points.ts'
import { type LedgerEntry, readBalance, readLedger } from './wallet-sql.ts'

/** A ledger line's fields (organizer routes use them inline: this scope's shared schema is not theirs). */
export const LedgerEntryFields = {
  id: Type.Integer(),
  amount: Type.Integer(),
  kind: Type.Union([
    Type.Literal('charge'),
    Type.Literal('payment'),
    Type.Literal('grant'),
    Type.Literal('top-up'),
    Type.Literal('refund'),
  ]),
  reference: Type.String(),
  balanceAfter: Type.Integer(),
  createdAt: DateTime,
}
const Entry = Type.Object(LedgerEntryFields, { $id: 'LedgerEntry' })
const UserParams = Type.Object({ userId: Uuid })
export const ledgerEntryJson = (e: LedgerEntry) => ({ ...e, createdAt: e.createdAt.toISOString() })

export const walletRoutes: Routes<{ db: Db; guard: Guard; demoTopUp: boolean }> = async (app, deps) => {
  app.addSchema(Entry)
  const secured = { security: [{ bearer: [] }], tags: ['wallet'] }

  app.get(
    '/users/:userId/wallet',
    {
      schema: {
        ...secured,
        summary: 'Read the point balance',
        params: UserParams,
        response: {
          200: Type.Object({ userId: Uuid, balance: Type.Integer() }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      return { userId, balance: await readBalance(deps.db, userId) }
    },
  )

  app.post(
    '/users/:userId/wallet/charges',
    {
      schema: {
        ...secured,
        summary: 'Charge free points (a demo: off unless DEMO_TOP_UP; idempotent by Idempotency-Key)',
        params: UserParams,
        headers: IdempotencyHeaders,
        body: Type.Object(
          { amount: Points, reference: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ entry: Type.Ref('LedgerEntry'), balance: Type.Integer() }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN', 'DEMO_TOP_UP_DISABLED', 'IDEMPOTENCY_KEY_REUSED'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.self(request, request.params.userId)
      if (!deps.demoTopUp) throw new AppError('DEMO_TOP_UP_DISABLED')
      const key = request.headers['idempotency-key']
      const result = await runIdempotent(
        deps.db,
        { userId, scope: 'wallet.charge', key, request: request.body },
        async (tx) => {
          const entry = await chargePoints(
            tx,
            userId,
            request.body.amount,
            request.body.reference ?? `charge:${key}`,
          )
          return { status: 201, body: { entry: ledgerEntryJson(entry), balance: entry.balanceAfter } }
        },
      )
      if (result.replayed) reply.header('idempotent-replayed', 'true')
      reply.code(result.status as 201)
      return result.body
    },
  )

  app.get(
    '/users/:userId/wallet/ledger',
    {
      schema: {
        ...secured,
        summary: 'Read the ledger, newest first',
        params: UserParams,
        querystring: Type.Object({
          ...Pagination,
          before: Type.Optional(
            // Bounded: unbounded, "Infinity" or "1e400" passes as an integer and reaches the database as text.
            Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'ledger id cursor' }),
          ),
        }),
        response: {
          200: Type.Object({ entries: Type.Array(Type.Ref('LedgerEntry')) }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      const entries = await readLedger(deps.db, userId, {
        limit: request.query.limit ?? 50,
        beforeId: request.query.before,
      })
      return { entries: entries.map(ledgerEntryJson) }
    },
  )
}
