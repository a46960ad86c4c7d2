import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'kysely'
import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type HttpServer } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'

/** Read side of the rankings; the tables are filled by the ranking consumer from reservation.confirmed. */
export function rankingRoutes(deps: { db: Db }): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify as unknown as HttpServer

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
        const row = await deps.db
          .selectFrom('schedules as s')
          .leftJoin('schedule_sales as ss', 'ss.schedule_id', 's.id')
          .select([
            's.id',
            'ss.sold_count',
            'ss.sold_out_at',
            (eb) =>
              eb
                .selectFrom('seats')
                .select(sql<number>`count(*)::int`.as('n'))
                .whereRef('seats.schedule_id', '=', 's.id')
                .as('total'),
          ])
          .where('s.id', '=', request.params.scheduleId)
          .executeTakeFirst()
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
        const rows = await deps.db
          .selectFrom('concert_daily_sales as d')
          .innerJoin('concerts as c', 'c.id', 'd.concert_id')
          .select(['d.concert_id', 'c.title', 'c.artist', 'd.sold_count'])
          .where('d.day', '=', day)
          .orderBy('d.sold_count', 'desc')
          .orderBy('c.title')
          .limit(request.query.limit ?? 10)
          .execute()
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
}
