import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { TokenService } from '../auth/tokens.ts'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { enterQueue } from './enter-queue.ts'
import { leaveQueue } from './leave-queue.ts'
import { estimatedWaitSeconds, queuePosition } from './queue-rules.ts'
import { type QueueSettings, readEntry } from './queue-sql.ts'

const Ticket = Type.Object(
  {
    status: Type.Union(['waiting', 'admitted', 'left', 'completed', 'expired'].map((s) => Type.Literal(s))),
    preQueue: Type.Boolean({ description: 'Joined before the sale opened: the place is drawn at opening' }),
    position: Type.Union([Type.Integer(), Type.Null()]),
    estimatedWaitSeconds: Type.Union([Type.Integer(), Type.Null()]),
    token: Type.Optional(Type.String({ description: 'Send as X-Queue-Token to hold and pay' })),
    admittedUntil: Type.Optional(DateTime),
  },
  { $id: 'QueueTicket' },
)
const Params = Type.Object({ scheduleId: Uuid })

export const queueRoutes: Routes<{
  db: Db
  guard: Guard
  tokens: TokenService
  settings: QueueSettings
}> = async (app, deps) => {
  app.addSchema(Ticket)
  const secured = { tags: ['queue'], security: [{ bearer: [] }] }

  async function ticket(scheduleId: string, userId: string) {
    const entry = await readEntry(deps.db, scheduleId, userId)
    const waitingPlace =
      entry.status === 'waiting' && entry.seq !== null
        ? queuePosition(entry.seq, entry.admittedThrough)
        : null
    return {
      status: entry.status,
      preQueue: entry.status === 'waiting' && entry.seq === null,
      position: entry.status === 'admitted' ? 0 : waitingPlace,
      estimatedWaitSeconds:
        entry.status === 'admitted'
          ? 0
          : waitingPlace === null
            ? null
            : estimatedWaitSeconds(waitingPlace, deps.settings.ratePerSecond),
      ...(entry.status === 'admitted' && entry.admittedUntil
        ? {
            token: deps.tokens.signQueue({ userId, scheduleId, expiresAt: entry.admittedUntil }),
            admittedUntil: entry.admittedUntil.toISOString(),
          }
        : {}),
    }
  }

  app.post(
    '/schedules/:scheduleId/queue',
    {
      schema: {
        ...secured,
        summary: 'Enter the waiting room (re-entering keeps your place)',
        params: Params,
        response: {
          201: Type.Ref('QueueTicket'),
          200: Type.Ref('QueueTicket'),
          ...errorResponses('UNAUTHENTICATED', 'SCHEDULE_NOT_FOUND'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      const { entered } = await enterQueue(deps.db, request.params.scheduleId, userId)
      reply.status(entered ? 201 : 200)
      return ticket(request.params.scheduleId, userId)
    },
  )

  app.get(
    '/schedules/:scheduleId/queue/me',
    {
      schema: {
        ...secured,
        summary: 'Your place, estimated wait, and the queue token once admitted',
        params: Params,
        response: {
          200: Type.Ref('QueueTicket'),
          ...errorResponses('UNAUTHENTICATED', 'QUEUE_ENTRY_NOT_FOUND'),
        },
      },
    },
    async (request) => ticket(request.params.scheduleId, deps.guard.user(request)),
  )

  app.delete(
    '/schedules/:scheduleId/queue/me',
    {
      schema: {
        ...secured,
        summary: 'Leave the waiting room (frees your admission slot)',
        params: Params,
        response: { 204: Type.Null(), ...errorResponses('UNAUTHENTICATED', 'QUEUE_ENTRY_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      await readEntry(deps.db, request.params.scheduleId, userId)
      await leaveQueue(deps.db, request.params.scheduleId, userId)
      reply.status(204)
    },
  )
}
