import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { Uuid } from '../platform/schemas.ts'
import { estimatedWaitSeconds, queuePosition } from './queue-rules.ts'
import { type QueueSettings, queueStatus } from './queue-sql.ts'

const Params = Type.Object({ scheduleId: Uuid })

/** The organizer's view of a waiting room. */
export const queueAdminRoutes: Routes<{ db: Db; settings: QueueSettings }> = async (app, deps) => {
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
}
