import Type from 'typebox'
import { findDeadLetter, listDeadLetters, replayDeadLetters } from '../events/runtime/dead-letter-store.ts'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'

const DeadLetter = Type.Object(
  {
    id: Uuid,
    group: Type.String(),
    originalTopic: Type.String(),
    originalPartition: Type.Integer(),
    originalOffset: Type.String(),
    key: Type.String(),
    eventId: Type.Union([Type.String(), Type.Null()]),
    eventType: Type.Union([Type.String(), Type.Null()]),
    value: Type.String(),
    error: Type.String(),
    attempts: Type.Integer(),
    firstFailedAt: DateTime,
    lastFailedAt: DateTime,
    status: Type.Union([Type.Literal('dead'), Type.Literal('replayed')]),
    replayedAt: Type.Union([DateTime, Type.Null()]),
  },
  { $id: 'DeadLetter' },
)

export const deadLetterRoutes: Routes<{ db: Db }> = async (app, deps) => {
  app.addSchema(DeadLetter)
  const admin = { tags: ['operations'] }

  app.get(
    '/admin/dead-letters',
    {
      schema: {
        ...admin,
        summary: 'List dead letters, newest first',
        querystring: Type.Object({
          status: Type.Optional(Type.Union([Type.Literal('dead'), Type.Literal('replayed')])),
          group: Type.Optional(Type.String({ maxLength: 100 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        }),
        response: {
          200: Type.Object({ deadLetters: Type.Array(Type.Ref('DeadLetter')) }),
          ...errorResponses('ADMIN_KEY_INVALID'),
        },
      },
    },
    async (request) => {
      return {
        deadLetters: await listDeadLetters(deps.db, {
          status: request.query.status,
          group: request.query.group,
          limit: request.query.limit ?? 100,
        }),
      }
    },
  )

  app.get(
    '/admin/dead-letters/:id',
    {
      schema: {
        ...admin,
        summary: 'One dead letter with its original record, error and attempts',
        params: Type.Object({ id: Uuid }),
        response: {
          200: Type.Ref('DeadLetter'),
          ...errorResponses('ADMIN_KEY_INVALID', 'DEAD_LETTER_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      return findDeadLetter(deps.db, request.params.id)
    },
  )

  app.post(
    '/admin/dead-letters/replay',
    {
      schema: {
        ...admin,
        summary: 'Replay dead letters to their original topic (by ids, or every dead one of a group)',
        body: Type.Object(
          {
            ids: Type.Optional(Type.Array(Uuid, { minItems: 1, maxItems: 1000 })),
            group: Type.Optional(Type.String({ maxLength: 100 })),
            all: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ replayed: Type.Array(Uuid) }),
          ...errorResponses('ADMIN_KEY_INVALID', 'DEAD_LETTER_NOT_FOUND', 'DEAD_LETTER_NOT_REPLAYABLE'),
        },
      },
    },
    async (request, reply) => {
      let ids = request.body.ids ?? []
      if (ids.length === 0 && (request.body.all || request.body.group)) {
        const dead = await listDeadLetters(deps.db, {
          status: 'dead',
          group: request.body.group,
          limit: 1000,
        })
        ids = dead.map((d) => d.id)
      }
      reply.status(202)
      return replayDeadLetters(deps.db, ids)
    },
  )
}
