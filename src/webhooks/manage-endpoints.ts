import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'
import { generateSecret } from './signing.ts'
import { assertWebhookUrl, type UrlPolicy } from './ssrf-guard.ts'
import { countEndpoints, type EndpointView, findEndpoint, insertEndpoint } from './webhooks-sql.ts'

/** A bound on endpoints, so one organizer key cannot fan every event out to thousands of URLs. */
export const MAX_ENDPOINTS = 50

/** Registers an endpoint after the SSRF check; the secret is returned here and never again. */
export async function registerEndpoint(
  db: Db,
  input: { url: string; eventTypes: readonly string[]; description?: string | undefined },
  policy: UrlPolicy,
): Promise<{ endpoint: EndpointView; secret: string }> {
  const url = await assertWebhookUrl(input.url, policy)
  if ((await countEndpoints(db)) >= MAX_ENDPOINTS) throw new AppError('WEBHOOK_ENDPOINT_LIMIT_REACHED')
  const id = uuidv7()
  const secret = generateSecret()
  await insertEndpoint(db, {
    id,
    url: url.toString(),
    description: input.description ?? '',
    eventTypes: [...new Set(input.eventTypes)],
    secret,
  })
  return { endpoint: await findEndpoint(db, id), secret }
}

/**
 * Changes what an endpoint receives, where, or whether it is on. Turning it back on clears the reason it was turned
 * off and its failure streak; turning it off keeps pending deliveries for when it comes back.
 */
export async function updateEndpoint(
  db: Db,
  id: string,
  patch: {
    url?: string | undefined
    eventTypes?: string[] | undefined
    description?: string | undefined
    enabled?: boolean | undefined
  },
  policy: UrlPolicy,
): Promise<EndpointView> {
  await findEndpoint(db, id)
  const url = patch.url !== undefined ? (await assertWebhookUrl(patch.url, policy)).toString() : undefined
  await db
    .updateTable('webhook_endpoints')
    .set({
      updated_at: sql`now()`,
      ...(url !== undefined ? { url } : {}),
      ...(patch.eventTypes ? { event_types: [...new Set(patch.eventTypes)] } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.enabled === true
        ? { enabled: true, disabled_reason: null, disabled_at: null, failing_since: null }
        : {}),
      ...(patch.enabled === false
        ? { enabled: false, disabled_reason: 'organizer', disabled_at: sql`now()` }
        : {}),
    })
    .where('id', '=', id)
    .where((eb) => (patch.enabled === false ? eb('enabled', '=', true) : eb.lit(true)))
    .execute()
  return findEndpoint(db, id)
}

/**
 * A new secret, returned once; the old one keeps signing (a second `v1,` entry in `webhook-signature`) for
 * `graceSeconds`, so receivers can switch without a window of failed verifications.
 */
export async function rotateSecret(
  db: Db,
  id: string,
  graceSeconds: number,
): Promise<{ secret: string; previousSecretExpiresAt: string | null }> {
  const secret = generateSecret()
  const row = await db
    .updateTable('webhook_endpoints')
    .set((eb) => ({
      previous_secret: graceSeconds > 0 ? eb.ref('secret') : null,
      previous_secret_expires_at:
        graceSeconds > 0 ? sql`now() + make_interval(secs => ${graceSeconds})` : null,
      secret,
      updated_at: sql`now()`,
    }))
    .where('id', '=', id)
    .returning('previous_secret_expires_at')
    .executeTakeFirst()
  if (!row) throw new AppError('WEBHOOK_ENDPOINT_NOT_FOUND')
  return { secret, previousSecretExpiresAt: row.previous_secret_expires_at?.toISOString() ?? null }
}

export async function deleteEndpoint(db: Db, id: string): Promise<void> {
  const r = await db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst()
  if (Number(r.numDeletedRows) === 0) throw new AppError('WEBHOOK_ENDPOINT_NOT_FOUND')
}

/** Manual redelivery: the delivery is due at once, with a fresh retry window; its id and payload stay the same. */
export async function redeliver(db: Db, endpointId: string, deliveryId: string): Promise<void> {
  const endpoint = await findEndpoint(db, endpointId)
  if (!endpoint.enabled) throw new AppError('WEBHOOK_ENDPOINT_DISABLED')
  const r = await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: sql`now()`, retry_window_start: sql`now()` })
    .where('endpoint_id', '=', endpointId)
    .where('id', '=', deliveryId)
    .executeTakeFirst()
  if (Number(r.numUpdatedRows) === 0) throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND')
}
