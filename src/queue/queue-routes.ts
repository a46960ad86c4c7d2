import type { FastifyPluginAsync } from 'fastify'
import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { TokenService } from '../auth/tokens.ts'
import type { Db } from '../platform/db.ts'
import { errorResponses, type HttpServer } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { enterQueue, leaveQueue, type QueueSettings, queueStatus, readEntry } from './queue-repository.ts'
import { estimatedWaitSeconds, queuePosition } from './queue-rules.ts'

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

export function queueRoutes(deps: {
  db: Db
  guard: Guard
  tokens: TokenService
  settings: QueueSettings
}): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify as unknown as HttpServer
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

    app.get(
      '/admin/schedules/:scheduleId/queue',
      {
        schema: {
          tags: ['organizer'],
          security: [{ adminKey: [] }],
          summary: 'Waiting-room status for the organizer',
          params: Params,
          response: {
            200: Type.Object({
              opened: Type.Boolean(),
              waiting: Type.Integer(),
              active: Type.Integer({ description: 'admitted and within their window' }),
              completed: Type.Integer(),
              left: Type.Integer(),
              maxActive: Type.Integer(),
              admitPerSecond: Type.Number(),
              estimatedWaitForLastSeconds: Type.Integer(),
            }),
            ...errorResponses('ADMIN_KEY_INVALID', 'SCHEDULE_NOT_FOUND'),
          },
        },
      },
      async (request) => {
        deps.guard.admin(request)
        const s = await queueStatus(deps.db, request.params.scheduleId)
        const lastPlace = s.lastSeq === null ? s.waiting : queuePosition(s.lastSeq, s.admittedThrough)
        return {
          opened: s.opened,
          waiting: s.waiting,
          active: s.active,
          completed: s.completed,
          left: s.left,
          maxActive: deps.settings.maxActive,
          admitPerSecond: deps.settings.ratePerSecond,
          estimatedWaitForLastSeconds:
            s.waiting === 0 ? 0 : estimatedWaitSeconds(lastPlace, deps.settings.ratePerSecond),
        }
      },
    )
  }
}
