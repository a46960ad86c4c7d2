import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import {
  deleteEndpoint,
  redeliver,
  registerEndpoint,
  rotateSecret,
  updateEndpoint,
} from './manage-endpoints.ts'
import type { UrlPolicy } from './ssrf-guard.ts'
import { subscribableEventTypes } from './subscribable-events.ts'
import {
  acknowledgeNotice,
  findDelivery,
  findEndpoint,
  listDeliveries,
  listEndpoints,
  listNotices,
} from './webhooks-sql.ts'

const EventTypeName = Type.Union(
  subscribableEventTypes.map((t) => Type.Literal(t)),
  { description: 'A business event type' },
)
const EventTypes = Type.Array(EventTypeName, { minItems: 1, maxItems: subscribableEventTypes.length })
const Url = Type.String({
  minLength: 8,
  maxLength: 2000,
  description: 'https URL (see WEBHOOKS_ALLOW_PRIVATE)',
})
const Description = Type.String({ maxLength: 500 })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

const Endpoint = Type.Object(
  {
    id: Uuid,
    url: Type.String(),
    description: Type.String(),
    eventTypes: Type.Array(Type.String()),
    enabled: Type.Boolean(),
    disabledReason: Nullable(
      Type.Union([Type.Literal('gone'), Type.Literal('failing'), Type.Literal('organizer')], {
        description:
          'gone: it answered 410; failing: no success for the disable window; organizer: turned off',
      }),
    ),
    disabledAt: Nullable(DateTime),
    failingSince: Nullable(DateTime),
    previousSecretExpiresAt: Nullable(DateTime),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { $id: 'WebhookEndpoint' },
)
const Status = Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')])
const DeliveryFields = {
  id: Uuid,
  eventId: Type.String({ description: 'The event id, sent as webhook-id on every attempt' }),
  eventType: Type.String(),
  status: Status,
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(DateTime),
  lastAttemptAt: Nullable(DateTime),
  lastStatusCode: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  lastDurationMs: Nullable(Type.Integer()),
  deliveredAt: Nullable(DateTime),
  createdAt: DateTime,
}
const Delivery = Type.Object(DeliveryFields, { $id: 'WebhookDelivery' })
const Secret = Type.String({ description: 'whsec_<base64>: shown once, store it now' })
const Notice = Type.Object(
  {
    id: Uuid,
    endpointId: Uuid,
    kind: Type.String(),
    message: Type.String(),
    createdAt: DateTime,
    acknowledgedAt: Nullable(DateTime),
  },
  { $id: 'WebhookNotice' },
)

/** Organizer webhooks (behind X-Admin-Key): endpoints, secrets, the delivery log, redelivery and notices. */
export const webhookAdminRoutes: Routes<{ db: Db; policy: UrlPolicy; secretGraceSeconds: number }> = async (
  app,
  deps,
) => {
  app.addSchema(Endpoint)
  app.addSchema(Delivery)
  app.addSchema(Notice)
  const tags = ['webhooks']
  const endpointParams = Type.Object({ endpointId: Uuid })
  const deliveryParams = Type.Object({ endpointId: Uuid, deliveryId: Uuid })

  app.get(
    '/admin/webhooks/event-types',
    {
      schema: {
        tags,
        summary: 'Event types an endpoint can subscribe to',
        response: {
          200: Type.Object({ eventTypes: Type.Array(Type.String()) }),
          ...errorResponses('ADMIN_KEY_INVALID'),
        },
      },
    },
    async () => ({ eventTypes: [...subscribableEventTypes] }),
  )

  app.post(
    '/admin/webhooks/endpoints',
    {
      schema: {
        tags,
        summary: 'Register an endpoint; the signing secret is in this answer only',
        description:
          'Deliveries are signed as Standard Webhooks: webhook-id (the event id), webhook-timestamp and ' +
          'webhook-signature "v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>" with the secret after its whsec_ ' +
          'prefix, base64-decoded. The URL must be https and resolve to public addresses only.',
        body: Type.Object(
          { url: Url, eventTypes: EventTypes, description: Type.Optional(Description) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ endpoint: Type.Ref('WebhookEndpoint'), secret: Secret }),
          ...errorResponses(
            'ADMIN_KEY_INVALID',
            'WEBHOOK_URL_NOT_ALLOWED',
            'WEBHOOK_HOST_UNRESOLVABLE',
            'WEBHOOK_ENDPOINT_LIMIT_REACHED',
          ),
        },
      },
    },
    async (request, reply) => {
      reply.status(201)
      return registerEndpoint(deps.db, request.body, deps.policy)
    },
  )

  app.get(
    '/admin/webhooks/endpoints',
    {
      schema: {
        tags,
        summary: 'Registered endpoints (never their secrets)',
        response: {
          200: Type.Object({ endpoints: Type.Array(Type.Ref('WebhookEndpoint')) }),
          ...errorResponses('ADMIN_KEY_INVALID'),
        },
      },
    },
    async () => ({ endpoints: await listEndpoints(deps.db) }),
  )

  app.get(
    '/admin/webhooks/endpoints/:endpointId',
    {
      schema: {
        tags,
        summary: 'One endpoint',
        params: endpointParams,
        response: {
          200: Type.Ref('WebhookEndpoint'),
          ...errorResponses('ADMIN_KEY_INVALID', 'WEBHOOK_ENDPOINT_NOT_FOUND'),
        },
      },
    },
    async (request) => findEndpoint(deps.db, request.params.endpointId),
  )

  app.patch(
    '/admin/webhooks/endpoints/:endpointId',
    {
      schema: {
        tags,
        summary: 'Change the event types, URL or description; enable or disable',
        description: 'Enabling clears the reason it was disabled and resumes its pending deliveries.',
        params: endpointParams,
        body: Type.Object(
          {
            url: Type.Optional(Url),
            eventTypes: Type.Optional(EventTypes),
            description: Type.Optional(Description),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: {
          200: Type.Ref('WebhookEndpoint'),
          ...errorResponses(
            'ADMIN_KEY_INVALID',
            'WEBHOOK_ENDPOINT_NOT_FOUND',
            'WEBHOOK_URL_NOT_ALLOWED',
            'WEBHOOK_HOST_UNRESOLVABLE',
          ),
        },
      },
    },
    async (request) => updateEndpoint(deps.db, request.params.endpointId, request.body, deps.policy),
  )

  app.delete(
    '/admin/webhooks/endpoints/:endpointId',
    {
      schema: {
        tags,
        summary: 'Remove an endpoint with its delivery log',
        params: endpointParams,
        response: { 204: Type.Null(), ...errorResponses('ADMIN_KEY_INVALID', 'WEBHOOK_ENDPOINT_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      await deleteEndpoint(deps.db, request.params.endpointId)
      reply.status(204)
      return null
    },
  )

  app.post(
    '/admin/webhooks/endpoints/:endpointId/secret/rotate',
    {
      schema: {
        tags,
        summary: 'Rotate the signing secret (the old one keeps signing during the grace period)',
        description:
          'Until previousSecretExpiresAt every delivery carries two v1 signatures, one per secret, space-separated.',
        params: endpointParams,
        response: {
          200: Type.Object({ secret: Secret, previousSecretExpiresAt: Nullable(DateTime) }),
          ...errorResponses('ADMIN_KEY_INVALID', 'WEBHOOK_ENDPOINT_NOT_FOUND'),
        },
      },
    },
    async (request) => rotateSecret(deps.db, request.params.endpointId, deps.secretGraceSeconds),
  )

  app.get(
    '/admin/webhooks/endpoints/:endpointId/deliveries',
    {
      schema: {
        tags,
        summary: "The endpoint's delivery log, newest first: status, attempts, last response code and timing",
        params: endpointParams,
        querystring: Type.Object({
          status: Type.Optional(Status),
          eventType: Type.Optional(Type.String({ maxLength: 100 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        }),
        response: {
          200: Type.Object({ deliveries: Type.Array(Type.Ref('WebhookDelivery')) }),
          ...errorResponses('ADMIN_KEY_INVALID', 'WEBHOOK_ENDPOINT_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      await findEndpoint(deps.db, request.params.endpointId)
      return {
        deliveries: await listDeliveries(deps.db, request.params.endpointId, {
          status: request.query.status,
          eventType: request.query.eventType,
          limit: request.query.limit ?? 50,
        }),
      }
    },
  )

  app.get(
    '/admin/webhooks/endpoints/:endpointId/deliveries/:deliveryId',
    {
      schema: {
        tags,
        summary: 'One delivery with the payload sent and every attempt',
        params: deliveryParams,
        response: {
          200: Type.Object({
            ...DeliveryFields,
            payload: Type.String(),
            attemptLog: Type.Array(
              Type.Object({
                attempt: Type.Integer(),
                attemptedAt: DateTime,
                statusCode: Nullable(Type.Integer()),
                durationMs: Type.Integer(),
                error: Nullable(Type.String()),
              }),
            ),
          }),
          ...errorResponses('ADMIN_KEY_INVALID', 'WEBHOOK_DELIVERY_NOT_FOUND'),
        },
      },
    },
    async (request) => findDelivery(deps.db, request.params.endpointId, request.params.deliveryId),
  )

  app.post(
    '/admin/webhooks/endpoints/:endpointId/deliveries/:deliveryId/redeliver',
    {
      schema: {
        tags,
        summary: 'Send a delivery again now (same webhook-id and payload, a fresh retry window)',
        params: deliveryParams,
        response: {
          202: Type.Object({ id: Uuid, status: Type.Literal('pending') }),
          ...errorResponses(
            'ADMIN_KEY_INVALID',
            'WEBHOOK_ENDPOINT_NOT_FOUND',
            'WEBHOOK_DELIVERY_NOT_FOUND',
            'WEBHOOK_ENDPOINT_DISABLED',
          ),
        },
      },
    },
    async (request, reply) => {
      await redeliver(deps.db, request.params.endpointId, request.params.deliveryId)
      reply.status(202)
      return { id: request.params.deliveryId, status: 'pending' as const }
    },
  )

  app.get(
    '/admin/webhooks/notices',
    {
      schema: {
        tags,
        summary: 'What the service did to endpoints on its own (disabled after 410 or days of failures)',
        querystring: Type.Object({
          open: Type.Optional(
            Type.Boolean({ default: true, description: 'only those not yet acknowledged' }),
          ),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        }),
        response: {
          200: Type.Object({ notices: Type.Array(Type.Ref('WebhookNotice')) }),
          ...errorResponses('ADMIN_KEY_INVALID'),
        },
      },
    },
    async (request) => ({
      notices: await listNotices(deps.db, {
        open: request.query.open ?? true,
        limit: request.query.limit ?? 50,
      }),
    }),
  )

  app.post(
    '/admin/webhooks/notices/:noticeId/acknowledge',
    {
      schema: {
        tags,
        summary: 'Mark a notice as seen',
        params: Type.Object({ noticeId: Uuid }),
        response: { 204: Type.Null(), ...errorResponses('ADMIN_KEY_INVALID', 'WEBHOOK_NOTICE_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      await acknowledgeNotice(deps.db, request.params.noticeId)
      reply.status(204)
      return null
    },
  )
}
