import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'kysely'
import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type HttpServer } from '../platform/http-server.ts'
import { DateTime, Pagination, Uuid } from '../platform/schemas.ts'

const Channel = Type.Union([
  Type.Literal('webhook'),
  Type.Literal('slack'),
  Type.Literal('discord'),
  Type.Literal('telegram'),
])
const Preference = Type.Object(
  {
    channel: Channel,
    enabled: Type.Boolean(),
    target: Type.Union([Type.String({ maxLength: 500 }), Type.Null()]),
  },
  { additionalProperties: false },
)
const Notification = Type.Object(
  {
    id: Uuid,
    kind: Type.String(),
    title: Type.String(),
    body: Type.String(),
    data: Type.Record(Type.String(), Type.Unknown()),
    createdAt: DateTime,
    deliveries: Type.Array(
      Type.Object({
        channel: Type.String(),
        status: Type.Union([Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')]),
        attempts: Type.Integer(),
        lastError: Type.Union([Type.String(), Type.Null()]),
        sentAt: Type.Union([DateTime, Type.Null()]),
      }),
    ),
  },
  { $id: 'Notification' },
)

function readPreferences(db: Db, userId: string) {
  return db
    .selectFrom('notification_preferences')
    .select(['channel', 'enabled', 'target'])
    .where('user_id', '=', userId)
    .orderBy('channel')
    .execute()
}

export function notificationRoutes(deps: { db: Db; guard: Guard }): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify as unknown as HttpServer
    app.addSchema(Notification)
    const secured = { tags: ['notifications'], security: [{ bearer: [] }] }
    const params = Type.Object({ userId: Uuid })

    app.get(
      '/users/:userId/notifications',
      {
        schema: {
          ...secured,
          summary: 'Your in-app inbox, newest first, with delivery status per channel',
          params,
          querystring: Type.Object(Pagination),
          response: {
            200: Type.Object({ notifications: Type.Array(Type.Ref('Notification')) }),
            ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
          },
        },
      },
      async (request) => {
        const userId = deps.guard.self(request, request.params.userId)
        const rows = await deps.db
          .selectFrom('notifications as n')
          .select([
            'n.id',
            'n.kind',
            'n.title',
            'n.body',
            'n.payload',
            'n.created_at',
            sql<unknown>`coalesce((select json_agg(json_build_object('channel', d.channel, 'status', d.status,
              'attempts', d.attempts, 'lastError', d.last_error, 'sentAt', d.sent_at) order by d.channel)
              from notification_deliveries d where d.notification_id = n.id), '[]'::json)`.as('deliveries'),
          ])
          .where('n.user_id', '=', userId)
          .orderBy('n.created_at', 'desc')
          .orderBy('n.id', 'desc')
          .limit(request.query.limit ?? 50)
          .execute()
        return {
          notifications: rows.map((r) => ({
            id: r.id,
            kind: r.kind,
            title: r.title,
            body: r.body,
            data: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as Record<
              string,
              unknown
            >,
            createdAt: r.created_at.toISOString(),
            deliveries: (typeof r.deliveries === 'string' ? JSON.parse(r.deliveries) : r.deliveries) as never,
          })),
        }
      },
    )

    app.get(
      '/users/:userId/notification-preferences',
      {
        schema: {
          ...secured,
          summary: 'Your channel preferences (channels without a row use the deployment defaults)',
          params,
          response: {
            200: Type.Object({ preferences: Type.Array(Preference) }),
            ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
          },
        },
      },
      async (request) => {
        const userId = deps.guard.self(request, request.params.userId)
        return { preferences: await readPreferences(deps.db, userId) }
      },
    )

    app.put(
      '/users/:userId/notification-preferences',
      {
        schema: {
          ...secured,
          summary: 'Set channel preferences (for example a Telegram chat id, or turning Slack off)',
          params,
          body: Type.Object(
            { preferences: Type.Array(Preference, { maxItems: 4 }) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ preferences: Type.Array(Preference) }),
            ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
          },
        },
      },
      async (request) => {
        const userId = deps.guard.self(request, request.params.userId)
        for (const p of request.body.preferences) {
          // Never a URL from a user: the server would call whatever address it names (SSRF).
          if (p.channel !== 'telegram' && p.target !== null) {
            throw new AppError(
              'VALIDATION_FAILED',
              `Only a Telegram chat id can be set; ${p.channel} goes where the deployment says.`,
              {
                field: 'preferences.target',
              },
            )
          }
          if (
            p.channel === 'telegram' &&
            p.target !== null &&
            !/^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$/.test(p.target)
          ) {
            throw new AppError(
              'VALIDATION_FAILED',
              'A Telegram target is a numeric chat id or an @channel name.',
              {
                field: 'preferences.target',
              },
            )
          }
        }
        await deps.db.transaction().execute(async (tx) => {
          for (const p of request.body.preferences) {
            await tx
              .insertInto('notification_preferences')
              .values({
                user_id: userId,
                channel: p.channel,
                enabled: p.enabled,
                target: p.target,
                updated_at: new Date(),
              })
              .onConflict((oc) =>
                oc
                  .columns(['user_id', 'channel'])
                  .doUpdateSet({ enabled: p.enabled, target: p.target, updated_at: new Date() }),
              )
              .execute()
          }
        })
        return { preferences: await readPreferences(deps.db, userId) }
      },
    )
  }
}
