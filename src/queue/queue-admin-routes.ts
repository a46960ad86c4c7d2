import Type from 'typebox'
import type { DatabaseHandle, Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { Uuid } from '../platform/schemas.ts'
import { leaveQueue } from './leave-queue.ts'
import { estimatedWaitSeconds, queuePosition } from './queue-rules.ts'
import { type QueueSettings, queueStatus } from './queue-sql.ts'
import type { QueueWatch } from './queue-watch.ts'

const Params = Type.Object({ scheduleId: Uuid })

/** The organizer's view of a waiting room. */
export const queueAdminRoutes: Routes<{
  db: Db
  database: DatabaseHandle
  settings: QueueSettings
  watch: QueueWatch
}> = async (app, deps) => {
  app.get(
    '/admin/schedules/:scheduleId/queue',
    {
      schema: {
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

  app.delete(
    '/admin/schedules/:scheduleId/queue/:userId',
    {
      schema: {
        summary:
          'Remove a fan from the waiting room: their admission and live holds end at once, on every instance',
        params: Type.Object({ scheduleId: Uuid, userId: Uuid }),
        response: {
          204: Type.Null(),
          ...errorResponses('ADMIN_KEY_INVALID', 'QUEUE_ENTRY_NOT_FOUND'),
        },
      },
    },
    async (request, reply) => {
      const { scheduleId, userId } = request.params
      const { left, seq } = await leaveQueue(deps.database, { scheduleId, userId, reason: 'kicked' })
      if (left) deps.watch.revoke(scheduleId, userId, seq)
      reply.status(204)
    },
  )
}
