import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { Pagination, Uuid } from '../platform/schemas.ts'
import { listWaitlist, type WaitlistStatus, waitlistCounts } from './waitlist-sql.ts'

const Statuses = ['waiting', 'offered', 'accepted', 'lapsed', 'left'] as const

/** The organizer's view of a schedule's waiting list. */
export const waitlistAdminRoutes: Routes<{ db: Db }> = async (app, deps) => {
  app.get(
    '/admin/schedules/:scheduleId/waitlist',
    {
      schema: {
        summary: 'The waiting list of a schedule in order of joining, with counts and open offers',
        params: Type.Object({ scheduleId: Uuid }),
        querystring: Type.Object({
          ...Pagination,
          status: Type.Optional(Type.Union(Statuses.map((s) => Type.Literal(s)))),
        }),
        response: {
          200: Type.Object({
            counts: Type.Object(Object.fromEntries(Statuses.map((s) => [s, Type.Integer()]))),
            entries: Type.Array(Type.Ref('WaitlistEntry')),
          }),
          ...errorResponses('ADMIN_KEY_INVALID', 'SCHEDULE_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      const { scheduleId } = request.params
      const counts = await waitlistCounts(deps.db, scheduleId)
      const entries = await listWaitlist(deps.db, scheduleId, {
        limit: request.query.limit ?? 50,
        status: request.query.status as WaitlistStatus | undefined,
      })
      return { counts, entries }
    },
  )
}
