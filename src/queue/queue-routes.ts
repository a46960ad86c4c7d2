import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { enterQueue } from './enter-queue.ts'
import { leaveQueue } from './leave-queue.ts'
import { type PlaceDeps, placeOf, readPlace } from './read-place.ts'

const Ticket = Type.Object(
  {
    status: Type.Union(['waiting', 'admitted', 'left', 'completed', 'expired'].map((s) => Type.Literal(s))),
    preQueue: Type.Boolean({ description: 'Joined before the sale opened: the place is drawn at opening' }),
    position: Type.Union([Type.Integer(), Type.Null()]),
    estimatedWaitSeconds: Type.Union([Type.Integer(), Type.Null()]),
    ticket: Type.Optional(
      Type.String({
        description: 'Your signed place: send it as X-Queue-Ticket when you read your place again',
      }),
    ),
    token: Type.Optional(Type.String({ description: 'Send as X-Queue-Token to hold and pay' })),
    admittedUntil: Type.Optional(DateTime),
  },
  { $id: 'QueueTicket' },
)
const Params = Type.Object({ scheduleId: Uuid })

export const queueRoutes: Routes<PlaceDeps & { database: DatabaseHandle; guard: Guard }> = async (
  app,
  deps,
) => {
  app.addSchema(Ticket)
  const secured = { tags: ['queue'], security: [{ bearer: [] }] }

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
      const { scheduleId } = request.params
      const entry = await enterQueue(deps.database, scheduleId, userId)
      reply.status(entry.entered ? 201 : 200)
      return placeOf(deps, scheduleId, userId, entry)
    },
  )

  app.get(
    '/schedules/:scheduleId/queue/me',
    {
      schema: {
        ...secured,
        summary: 'Your place, estimated wait, and the queue token once admitted',
        description:
          'Send the ticket of your last answer as X-Queue-Ticket: while you wait, your place is then read from memory.',
        params: Params,
        headers: Type.Object({ 'x-queue-ticket': Type.Optional(Type.String({ maxLength: 2000 })) }),
        response: {
          200: Type.Ref('QueueTicket'),
          ...errorResponses('UNAUTHENTICATED', 'QUEUE_ENTRY_NOT_FOUND'),
        },
      },
    },
    async (request) =>
      readPlace(deps, request.params.scheduleId, deps.guard.user(request), request.headers['x-queue-ticket']),
  )

  app.delete(
    '/schedules/:scheduleId/queue/me',
    {
      schema: {
        ...secured,
        summary: 'Leave the waiting room: your admission slot and any seats you hold go back',
        params: Params,
        response: { 204: Type.Null(), ...errorResponses('UNAUTHENTICATED', 'QUEUE_ENTRY_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      const { scheduleId } = request.params
      const { left, seq } = await leaveQueue(deps.database, { scheduleId, userId, reason: 'left' })
      if (left) deps.watch.revoke(scheduleId, userId, seq)
      reply.status(204)
    },
  )
}
