import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { findScheduleSales, topConcertsOfDay } from './rankings-sql.ts'

/** Read side of the rankings; the tables are filled by the ranking consumer from reservation.confirmed. */
export const rankingRoutes: Routes<{ db: Db }> = async (app, deps) => {
  app.get(
    '/rankings/schedules/:scheduleId',
    {
      schema: {
        tags: ['rankings'],
        summary: 'Sales of one schedule and when it sold out',
        params: Type.Object({ scheduleId: Uuid }),
        response: {
          200: Type.Object({
            scheduleId: Uuid,
            soldCount: Type.Integer(),
            totalSeats: Type.Integer(),
            soldOutAt: Type.Union([DateTime, Type.Null()]),
          }),
          ...errorResponses('SCHEDULE_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      const row = await findScheduleSales(deps.db, request.params.scheduleId)
      if (!row) throw new AppError('SCHEDULE_NOT_FOUND')
      return {
        scheduleId: row.id,
        soldCount: row.sold_count ?? 0,
        totalSeats: row.total ?? 0,
        soldOutAt: row.sold_out_at?.toISOString() ?? null,
      }
    },
  )

  app.get(
    '/rankings/concerts',
    {
      schema: {
        tags: ['rankings'],
        summary: 'Top-selling concerts of a day (UTC)',
        querystring: Type.Object({
          day: Type.Optional(Type.String({ format: 'date' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
        }),
        response: {
          200: Type.Object({
            day: Type.String(),
            concerts: Type.Array(
              Type.Object({
                concertId: Uuid,
                title: Type.String(),
                artist: Type.String(),
                soldCount: Type.Integer(),
              }),
            ),
          }),
          ...errorResponses(),
        },
      },
    },
    async (request) => {
      const day = request.query.day ?? new Date().toISOString().slice(0, 10)
      const rows = await topConcertsOfDay(deps.db, day, request.query.limit ?? 10)
      return {
        day,
        concerts: rows.map((r) => ({
          concertId: r.concert_id,
          title: r.title,
          artist: r.artist,
          soldCount: r.sold_count,
        })),
      }
    },
  )
}
