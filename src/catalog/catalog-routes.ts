import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Pagination, Uuid } from '../platform/schemas.ts'
import { findConcert, findSchedule, listConcerts, listSeats, seatCounts } from './catalog-sql.ts'

const Concert = Type.Object(
  { id: Uuid, title: Type.String(), artist: Type.String(), venue: Type.String() },
  { $id: 'Concert' },
)
const ScheduleSummary = Type.Object(
  { id: Uuid, startsAt: DateTime, saleOpensAt: DateTime },
  { $id: 'ScheduleSummary' },
)
const SeatStatus = Type.Union([Type.Literal('available'), Type.Literal('held'), Type.Literal('sold')])
const Seat = Type.Object(
  { id: Uuid, label: Type.String(), grade: Type.String(), price: Type.Integer(), status: SeatStatus },
  { $id: 'Seat' },
)
const Schedule = Type.Object(
  {
    id: Uuid,
    concert: Type.Ref('Concert'),
    startsAt: DateTime,
    saleOpensAt: DateTime,
    saleOpen: Type.Boolean(),
    seats: Type.Object({
      total: Type.Integer(),
      available: Type.Integer(),
      held: Type.Integer(),
      sold: Type.Integer(),
    }),
  },
  { $id: 'Schedule' },
)
/** Shared by the public and the organizer routes, so added at the root. */
export const catalogSchemas = [Concert, ScheduleSummary, Seat, Schedule]

export const catalogRoutes: Routes<{ db: Db }> = async (app, deps) => {
  app.get(
    '/concerts',
    {
      schema: {
        tags: ['catalog'],
        summary: 'List concerts',
        querystring: Type.Object(Pagination),
        response: { 200: Type.Object({ concerts: Type.Array(Type.Ref('Concert')) }), ...errorResponses() },
      },
    },
    async (request) => ({ concerts: await listConcerts(deps.db, request.query.limit ?? 50) }),
  )

  app.get(
    '/concerts/:concertId',
    {
      schema: {
        tags: ['catalog'],
        summary: 'A concert with its schedules',
        params: Type.Object({ concertId: Uuid }),
        response: {
          200: Type.Object({
            concert: Type.Ref('Concert'),
            schedules: Type.Array(Type.Ref('ScheduleSummary')),
          }),
          ...errorResponses('CONCERT_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      const { concert, schedules } = await findConcert(deps.db, request.params.concertId)
      return {
        concert,
        schedules: schedules.map((s) => ({
          id: s.id,
          startsAt: s.starts_at.toISOString(),
          saleOpensAt: s.sale_opens_at.toISOString(),
        })),
      }
    },
  )

  app.get(
    '/schedules/:scheduleId',
    {
      schema: {
        tags: ['catalog'],
        summary: 'A schedule with live seat counts',
        params: Type.Object({ scheduleId: Uuid }),
        response: { 200: Type.Ref('Schedule'), ...errorResponses('SCHEDULE_NOT_FOUND') },
      },
    },
    async (request) => {
      const s = await findSchedule(deps.db, request.params.scheduleId)
      const counts = await seatCounts(deps.db, s.id)
      return {
        id: s.id,
        concert: { id: s.concert_id, title: s.title, artist: s.artist, venue: s.venue },
        startsAt: s.starts_at.toISOString(),
        saleOpensAt: s.sale_opens_at.toISOString(),
        saleOpen: s.sale_opens_at.getTime() <= Date.now(),
        seats: { total: counts.available + counts.held + counts.sold, ...counts },
      }
    },
  )

  app.get(
    '/schedules/:scheduleId/seats',
    {
      schema: {
        tags: ['catalog'],
        summary: 'Seats with live status (a lapsed hold reads as available)',
        params: Type.Object({ scheduleId: Uuid }),
        response: {
          200: Type.Object({ seats: Type.Array(Type.Ref('Seat')) }),
          ...errorResponses('SCHEDULE_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      await findSchedule(deps.db, request.params.scheduleId)
      return { seats: await listSeats(deps.db, request.params.scheduleId) }
    },
  )
}
