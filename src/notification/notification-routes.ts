import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import { type Db, jsonColumn } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Pagination, Uuid } from '../platform/schemas.ts'
import { channelNames, type NotificationChannel } from './channels.ts'
import { channelStatus, readInbox, readPreferences } from './notifications-sql.ts'
import { setPreferences } from './set-preferences.ts'

const Channel = Type.Union([
  Type.Literal('webhook'),
  Type.Literal('slack'),
  Type.Literal('discord'),
  Type.Literal('telegram'),
  Type.Literal('alimtalk'),
  Type.Literal('fcm'),
  Type.Literal('sms'),
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

export const notificationRoutes: Routes<{
  db: Db
  guard: Guard
  channels: readonly NotificationChannel[]
}> = async (app, deps) => {
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
      const rows = await readInbox(deps.db, userId, request.query.limit ?? 50)
      return {
        notifications: rows.map((r) => ({
          id: r.id,
          kind: r.kind,
          title: r.title,
          body: r.body,
          data: jsonColumn(r.payload) as Record<string, unknown>,
          createdAt: r.created_at.toISOString(),
          deliveries: jsonColumn(r.deliveries) as never,
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
        description:
          'channels lists what this deployment offers: whether each is on for you (SMS is opt-in, the others on ' +
          'by default) and whether it can reach you (a verified phone for AlimTalk and SMS, a push token for FCM, a ' +
          'chat id for Telegram).',
        params,
        response: {
          200: Type.Object({
            preferences: Type.Array(Preference),
            channels: Type.Array(
              Type.Object({ channel: Channel, enabled: Type.Boolean(), reachable: Type.Boolean() }),
            ),
          }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      return {
        preferences: await readPreferences(deps.db, userId),
        channels: await channelStatus(deps.db, userId, deps.channels),
      }
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
          { preferences: Type.Array(Preference, { maxItems: channelNames.length }) },
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
      await setPreferences(deps.db, userId, request.body.preferences)
      return { preferences: await readPreferences(deps.db, userId) }
    },
  )
}
