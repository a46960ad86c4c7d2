import Type from 'typebox'
import type { Db, Tx } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { insertConcert } from './catalog-sql.ts'
import { createSchedule } from './create-schedule.ts'

const ConcertInput = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    artist: Type.String({ minLength: 1, maxLength: 200 }),
    venue: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
)
/** The seats a schedule's grade may have, and the grades a schedule may have (the benchmark's largest sale is both). */
export const MAX_SEATS_PER_GRADE = 5000
export const MAX_GRADES = 20

const ScheduleInput = Type.Object(
  {
    startsAt: DateTime,
    saleOpensAt: DateTime,
    seats: Type.Array(
      Type.Object(
        {
          grade: Type.String({ minLength: 1, maxLength: 20 }),
          price: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
          count: Type.Integer({ minimum: 1, maximum: MAX_SEATS_PER_GRADE }),
          prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 20, pattern: '^[A-Za-z0-9]+$' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_GRADES },
    ),
  },
  { additionalProperties: false },
)

export type CatalogAdminDeps = {
  db: Db
  /** Runs in the schedule's creating transaction (the waiting room prepares itself here). */
  onScheduleCreated: (tx: Tx, scheduleId: string) => Promise<void>
}

/** The organizer's side of the catalog: concerts, and schedules with their seats. */
export const catalogAdminRoutes: Routes<CatalogAdminDeps> = async (app, deps) => {
  app.post(
    '/admin/concerts',
    {
      schema: {
        summary: 'Create a concert',
        body: ConcertInput,
        response: { 201: Type.Ref('Concert'), ...errorResponses('ADMIN_KEY_INVALID') },
      },
    },
    async (request, reply) => {
      const { id } = await insertConcert(deps.db, request.body)
      reply.status(201)
      return { id, ...request.body }
    },
  )

  app.post(
    '/admin/concerts/:concertId/schedules',
    {
      schema: {
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
      const created = await createSchedule(deps.db, {
        concertId: request.params.concertId,
        ...request.body,
        onCreated: deps.onScheduleCreated,
      })
      reply.status(201)
      return created
    },
  )
}
