import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'

/** An endpoint as organizers see it: never its secrets. */
export interface EndpointView {
  id: string
  url: string
  description: string
  eventTypes: string[]
  enabled: boolean
  disabledReason: 'gone' | 'failing' | 'organizer' | null
  disabledAt: string | null
  failingSince: string | null
  previousSecretExpiresAt: string | null
  createdAt: string
  updatedAt: string
}

type EndpointRow = Awaited<ReturnType<ReturnType<typeof endpointQuery>['executeTakeFirstOrThrow']>>

function endpointQuery(db: Db) {
  return db
    .selectFrom('webhook_endpoints')
    .select([
      'id',
      'url',
      'description',
      'event_types',
      'enabled',
      'disabled_reason',
      'disabled_at',
      'failing_since',
      'previous_secret_expires_at',
      'created_at',
      'updated_at',
    ])
}

const iso = (d: Date | null) => d?.toISOString() ?? null

export function toEndpointView(r: EndpointRow): EndpointView {
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    eventTypes: [...r.event_types].sort(),
    enabled: r.enabled,
    disabledReason: r.disabled_reason,
    disabledAt: iso(r.disabled_at),
    failingSince: iso(r.failing_since),
    previousSecretExpiresAt:
      r.previous_secret_expires_at && r.previous_secret_expires_at > new Date()
        ? r.previous_secret_expires_at.toISOString()
        : null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  }
}

export async function listEndpoints(db: Db): Promise<EndpointView[]> {
  return (await endpointQuery(db).orderBy('created_at').execute()).map(toEndpointView)
}

export async function findEndpoint(db: Db, id: string): Promise<EndpointView> {
  const row = await endpointQuery(db).where('id', '=', id).executeTakeFirst()
  if (!row) throw new AppError('WEBHOOK_ENDPOINT_NOT_FOUND')
  return toEndpointView(row)
}

export async function countEndpoints(db: Db): Promise<number> {
  const r = await db
    .selectFrom('webhook_endpoints')
    .select(sql<number>`count(*)::int`.as('n'))
    .executeTakeFirstOrThrow()
  return r.n
}

export async function insertEndpoint(
  db: Db,
  e: { id: string; url: string; description: string; eventTypes: readonly string[]; secret: string },
): Promise<void> {
  await db
    .insertInto('webhook_endpoints')
    .values({
      id: e.id,
      url: e.url,
      description: e.description,
      event_types: [...e.eventTypes],
      secret: e.secret,
      updated_at: sql`now()`,
    })
    .execute()
}

/** Enabled endpoints subscribed to `eventType`, for the fan-out. */
export function subscribedEndpoints(db: Db, eventType: string) {
  return db
    .selectFrom('webhook_endpoints')
    .select('id')
    .where('enabled', '=', true)
    .where(sql<boolean>`${eventType} = any(event_types)`)
    .execute()
}

export interface DeliveryView {
  id: string
  eventId: string
  eventType: string
  status: 'pending' | 'succeeded' | 'failed'
  attempts: number
  nextAttemptAt: string | null
  lastAttemptAt: string | null
  lastStatusCode: number | null
  lastError: string | null
  lastDurationMs: number | null
  deliveredAt: string | null
  createdAt: string
}

type DeliveryRow = Awaited<ReturnType<ReturnType<typeof deliveryQuery>['executeTakeFirstOrThrow']>>

function deliveryQuery(db: Db) {
  return db
    .selectFrom('webhook_deliveries')
    .select([
      'id',
      'event_id',
      'event_type',
      'status',
      'attempts',
      'next_attempt_at',
      'last_attempt_at',
      'last_status_code',
      'last_error',
      'last_duration_ms',
      'delivered_at',
      'created_at',
    ])
}

function toDeliveryView(r: DeliveryRow): DeliveryView {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? r.next_attempt_at.toISOString() : null,
    lastAttemptAt: iso(r.last_attempt_at),
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    lastDurationMs: r.last_duration_ms,
    deliveredAt: iso(r.delivered_at),
    createdAt: r.created_at.toISOString(),
  }
}

/** An endpoint's delivery log, newest first. */
export async function listDeliveries(
  db: Db,
  endpointId: string,
  filter: {
    status?: 'pending' | 'succeeded' | 'failed' | undefined
    eventType?: string | undefined
    limit: number
  },
): Promise<DeliveryView[]> {
  let q = deliveryQuery(db)
    .where('endpoint_id', '=', endpointId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit)
  if (filter.status) q = q.where('status', '=', filter.status)
  if (filter.eventType) q = q.where('event_type', '=', filter.eventType)
  return (await q.execute()).map(toDeliveryView)
}

/** One delivery with the payload sent and every attempt. */
export async function findDelivery(db: Db, endpointId: string, deliveryId: string) {
  const row = await deliveryQuery(db)
    .select('payload')
    .where('endpoint_id', '=', endpointId)
    .where('id', '=', deliveryId)
    .executeTakeFirst()
  if (!row) throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND')
  const attempts = await db
    .selectFrom('webhook_attempts')
    .select(['attempt', 'attempted_at', 'status_code', 'duration_ms', 'error'])
    .where('delivery_id', '=', deliveryId)
    .orderBy('attempt')
    .execute()
  return {
    ...toDeliveryView(row),
    payload: row.payload,
    attemptLog: attempts.map((a) => ({
      attempt: a.attempt,
      attemptedAt: a.attempted_at.toISOString(),
      statusCode: a.status_code,
      durationMs: a.duration_ms,
      error: a.error,
    })),
  }
}

export interface Notice {
  id: string
  endpointId: string
  kind: string
  message: string
  createdAt: string
  acknowledgedAt: string | null
}

export async function listNotices(db: Db, filter: { open: boolean; limit: number }): Promise<Notice[]> {
  let q = db
    .selectFrom('webhook_notices')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit)
  if (filter.open) q = q.where('acknowledged_at', 'is', null)
  return (await q.execute()).map((n) => ({
    id: n.id,
    endpointId: n.endpoint_id,
    kind: n.kind,
    message: n.message,
    createdAt: n.created_at.toISOString(),
    acknowledgedAt: iso(n.acknowledged_at),
  }))
}

export async function acknowledgeNotice(db: Db, id: string): Promise<void> {
  const r = await db
    .updateTable('webhook_notices')
    .set({ acknowledged_at: sql`coalesce(acknowledged_at, now())` })
    .where('id', '=', id)
    .executeTakeFirst()
  if (Number(r.numUpdatedRows) === 0) throw new AppError('WEBHOOK_NOTICE_NOT_FOUND')
}
