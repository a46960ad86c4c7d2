import type { FastifyPluginAsync } from 'fastify'
import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { Db, Tx } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type HttpServer } from '../platform/http-server.ts'
import { DateTime, Pagination, Uuid } from '../platform/schemas.ts'
import {
  findConcert,
  findSchedule,
  insertConcert,
  insertSchedule,
  listConcerts,
  listSeats,
  seatCounts,
} from './catalog-repository.ts'

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
const ConcertInput = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    artist: Type.String({ minLength: 1, maxLength: 200 }),
    venue: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
)
const ScheduleInput = Type.Object(
  {
    startsAt: DateTime,
    saleOpensAt: DateTime,
    seats: Type.Array(
      Type.Object(
        {
          grade: Type.String({ minLength: 1, maxLength: 20 }),
          price: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
          count: Type.Integer({ minimum: 1, maximum: 5000 }),
          prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 20, pattern: '^[A-Za-z0-9]+$' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 20 },
    ),
  },
  { additionalProperties: false },
)

export interface CatalogDeps {
  db: Db
  guard: Guard
  /** Runs in the schedule's creating transaction (the waiting room prepares itself here). */
  onScheduleCreated: (tx: Tx, scheduleId: string) => Promise<void>
}

export function catalogRoutes(deps: CatalogDeps): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify as unknown as HttpServer
    for (const schema of [Concert, ScheduleSummary, Seat, Schedule]) app.addSchema(schema)
    const admin = { tags: ['organizer'], security: [{ adminKey: [] }] }

    app.post(
      '/admin/concerts',
      {
        schema: {
          ...admin,
          summary: 'Create a concert',
          body: ConcertInput,
          response: { 201: Type.Ref('Concert'), ...errorResponses('ADMIN_KEY_INVALID') },
        },
      },
      async (request, reply) => {
        deps.guard.admin(request)
        const { id } = await insertConcert(deps.db, request.body)
        reply.status(201)
        return { id, ...request.body }
      },
    )

    app.post(
      '/admin/concerts/:concertId/schedules',
      {
        schema: {
          ...admin,
          summary: 'Create a schedule with its seats; fans queue from now, the sale opens at saleOpensAt',
          params: Type.Object({ concertId: Uuid }),
          body: ScheduleInput,
          response: {
            201: Type.Object({ id: Uuid, seatCount: Type.Integer() }),
            ...errorResponses('ADMIN_KEY_INVALID', 'CONCERT_NOT_FOUND'),
          },
        },
      },
      async (request, reply) => {
        deps.guard.admin(request)
        const startsAt = new Date(request.body.startsAt)
        const saleOpensAt = new Date(request.body.saleOpensAt)
        // the date-time format admits values no clock has, such as a leap second (23:59:60)
        for (const [field, date] of [
          ['startsAt', startsAt],
          ['saleOpensAt', saleOpensAt],
        ] as const) {
          if (Number.isNaN(date.getTime())) {
            throw new AppError('VALIDATION_FAILED', `${field} is not a valid instant.`, { field })
          }
        }
        if (saleOpensAt > startsAt) {
          throw new AppError('VALIDATION_FAILED', 'saleOpensAt must not be after startsAt.', {
            field: 'saleOpensAt',
          })
        }
        const created = await deps.db.transaction().execute(async (tx) => {
          const schedule = await insertSchedule(tx, {
            concertId: request.params.concertId,
            startsAt,
            saleOpensAt,
            seats: request.body.seats,
          })
          await deps.onScheduleCreated(tx, schedule.id)
          return schedule
        })
        reply.status(201)
        return created
      },
    )

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
}
