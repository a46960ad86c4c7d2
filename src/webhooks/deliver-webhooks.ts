import { sql } from 'kysely'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import type { Db } from '../platform/db.ts'
import { uuidv7 } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import { nextDelayMs, parseRetryAfter, type RetrySettings } from './retry-schedule.ts'
import { signatureHeaders } from './signing.ts'
import type { UrlPolicy } from './ssrf-guard.ts'
import { type SendResult, sendWebhook } from './webhook-sender.ts'

export interface DeliverySettings {
  /** Sends in flight on this instance, over all endpoints. */
  concurrency: number
  /** Sends in flight per endpoint on this instance: a slow endpoint holds at most this many slots. */
  perEndpoint: number
  pollMs: number
  timeoutMs: number
  retry: RetrySettings
  /** A delivery still failing this long after its first try is marked failed. */
  retryForSeconds: number
  /** An endpoint failing this long without one success is disabled and the organizer told. */
  disableAfterSeconds: number
  policy: UrlPolicy
}

interface Claimed {
  id: string
  endpointId: string
  eventId: string
  payload: string
  attempts: number
  retryWindowStart: Date
  url: string
  secrets: string[]
}

export interface WebhookWorker {
  start(): void
  stop(): Promise<void>
  /** Looks for due deliveries now instead of at the next poll. */
  wake(): void
}

/**
 * The delivery worker: a background loop that claims due deliveries (`FOR UPDATE SKIP LOCKED`, then a lease moves
 * their due time past the send's timeout, so several instances never send the same one at once and a crashed
 * instance's claims come due again), sends each outside any transaction with bounded concurrency overall and per
 * endpoint, and records the outcome with its attempt: 2xx succeeds; 410 disables the endpoint at once; any other
 * failure is retried with exponential backoff and jitter until the retry window ends, and an endpoint failing for
 * `disableAfterSeconds` is disabled. Disabling writes a notice for the console and a webhook.endpoint-disabled event.
 */
export function createWebhookWorker(options: {
  db: Db
  logger: Logger
  registry: Registry
  settings: DeliverySettings
}): WebhookWorker {
  const { db, logger, settings } = options
  const inFlight = new Map<string, number>()
  let total = 0
  const running = new Set<Promise<void>>()
  let stopping = new AbortController()

  const attempts = new Counter({
    name: 'webhook_delivery_attempts_total',
    help: 'Webhook delivery attempts by result (2xx, 3xx, 4xx, 5xx, network)',
    labelNames: ['result'],
    registers: [options.registry],
  })
  const finished = new Counter({
    name: 'webhook_deliveries_finished_total',
    help: 'Webhook deliveries that ended, by status',
    labelNames: ['status'],
    registers: [options.registry],
  })
  const disabled = new Counter({
    name: 'webhook_endpoints_disabled_total',
    help: 'Endpoints the service disabled, by reason (gone: 410; failing: no success for the disable window)',
    labelNames: ['reason'],
    registers: [options.registry],
  })
  const duration = new Histogram({
    name: 'webhook_delivery_duration_seconds',
    help: 'Time to an answer (or to the failure) per attempt',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [options.registry],
  })
  new Gauge({
    name: 'webhook_deliveries_pending',
    help: 'Deliveries waiting for a first or next attempt',
    registers: [options.registry],
    async collect() {
      const r = await db
        .selectFrom('webhook_deliveries')
        .select(sql<number>`count(*)::int`.as('n'))
        .where('status', '=', 'pending')
        .executeTakeFirst()
        .catch(() => undefined)
      this.set(r?.n ?? 0)
    },
  })

  async function claim(): Promise<Claimed[]> {
    const free = settings.concurrency - total
    if (free <= 0) return []
    // The slots as they are before the endpoints are read. A send records its outcome (a 410 disables its endpoint
    // in that transaction) before it frees its slot: read after the read began, a freed slot could go to an endpoint
    // the read still saw enabled, and a delivery was sent after its endpoint's 410.
    const busy = new Map(inFlight)
    return db.transaction().execute(async (tx) => {
      const endpoints = await tx
        .selectFrom('webhook_endpoints')
        .select('id')
        .where('enabled', '=', true)
        .execute()
      const slots = endpoints
        .map((e) => ({ id: e.id, free: settings.perEndpoint - (busy.get(e.id) ?? 0) }))
        .filter((s) => s.free > 0)
      if (slots.length === 0) return []
      const due = await sql<{ id: string; endpoint_id: string }>`
        select d.id, d.endpoint_id
        from unnest(${slots.map((s) => s.id)}::uuid[], ${slots.map((s) => s.free)}::int[]) as f(endpoint_id, free)
        cross join lateral (
          select w.id, w.endpoint_id from webhook_deliveries w
          where w.endpoint_id = f.endpoint_id and w.status = 'pending' and w.next_attempt_at <= now()
          order by w.next_attempt_at
          limit f.free
          for update skip locked) d`.execute(tx)
      const chosen = roundRobin(due.rows, free)
      if (chosen.length === 0) return []
      const leaseSeconds = settings.timeoutMs / 1000 + 30
      const rows = await tx
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: sql`now() + make_interval(secs => ${leaseSeconds})` })
        .where(
          'id',
          'in',
          chosen.map((c) => c.id),
        )
        .returning(['id', 'endpoint_id', 'event_id', 'payload', 'attempts', 'retry_window_start'])
        .execute()
      const byEndpoint = new Map(
        (
          await tx
            .selectFrom('webhook_endpoints')
            .select(['id', 'url', 'secret', 'previous_secret', 'previous_secret_expires_at'])
            .where('id', 'in', [...new Set(rows.map((r) => r.endpoint_id))])
            .execute()
        ).map((e) => [e.id, e]),
      )
      const now = new Date()
      return rows.flatMap((r) => {
        const e = byEndpoint.get(r.endpoint_id)
        if (!e) return []
        const secrets = [e.secret]
        if (e.previous_secret && e.previous_secret_expires_at && e.previous_secret_expires_at > now) {
          secrets.push(e.previous_secret)
        }
        return [
          {
            id: r.id,
            endpointId: r.endpoint_id,
            eventId: r.event_id,
            payload: r.payload,
            attempts: r.attempts,
            retryWindowStart: r.retry_window_start,
            url: e.url,
            secrets,
          },
        ]
      })
    })
  }

  async function deliver(d: Claimed, signal: AbortSignal): Promise<void> {
    const attemptedAt = new Date()
    const headers = signatureHeaders(
      d.secrets,
      d.eventId,
      Math.floor(attemptedAt.getTime() / 1000),
      d.payload,
    )
    const result = await sendWebhook(d.url, d.payload, headers, {
      timeoutMs: settings.timeoutMs,
      policy: settings.policy,
      signal,
    })
    if (signal.aborted) {
      // Shutting down mid-send: give the claim back so another instance tries at once (the receiver dedupes by id).
      await db
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: sql`now()` })
        .where('id', '=', d.id)
        .where('status', '=', 'pending')
        .execute()
        .catch(() => {})
      return
    }
    attempts.inc({ result: resultClass(result) })
    duration.observe(result.durationMs / 1000)
    await recordOutcome(d, attemptedAt, result)
  }

  async function recordOutcome(d: Claimed, attemptedAt: Date, result: SendResult): Promise<void> {
    const attempt = d.attempts + 1
    const ok = result.status !== null && result.status >= 200 && result.status < 300
    const outcome = await db.transaction().execute(async (tx) => {
      await tx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: d.id,
          attempt,
          attempted_at: attemptedAt,
          status_code: result.status,
          duration_ms: result.durationMs,
          error: result.error,
        })
        .onConflict((oc) => oc.doNothing())
        .execute()
      const last = {
        attempts: attempt,
        last_attempt_at: attemptedAt,
        last_status_code: result.status,
        last_error: result.error,
        last_duration_ms: result.durationMs,
      }
      if (ok) {
        await tx
          .updateTable('webhook_deliveries')
          .set({ ...last, status: 'succeeded', delivered_at: sql`now()` })
          .where('id', '=', d.id)
          .execute()
        await tx
          .updateTable('webhook_endpoints')
          .set({ failing_since: null })
          .where('id', '=', d.endpointId)
          .where('failing_since', 'is not', null)
          .execute()
        return 'succeeded' as const
      }
      // The endpoint's failures take turns on its failing_since and disabling. FOR NO KEY UPDATE, not FOR UPDATE: the
      // fan-out groups' new deliveries for it (FOR KEY SHARE, by their foreign key, for a whole batch) go on meanwhile.
      const endpoint = await tx
        .selectFrom('webhook_endpoints')
        .select(['url', 'enabled', 'failing_since'])
        .where('id', '=', d.endpointId)
        .forNoKeyUpdate()
        .executeTakeFirst()
      if (!endpoint) return 'failed' as const // deleted meanwhile (its deliveries went with it)
      const now = new Date()
      const failingSince = endpoint.failing_since ?? attemptedAt
      const gone = result.status === 410
      const tooLong = now.getTime() - failingSince.getTime() >= settings.disableAfterSeconds * 1000
      await tx
        .updateTable('webhook_endpoints')
        .set({ failing_since: failingSince })
        .where('id', '=', d.endpointId)
        .execute()
      if ((gone || tooLong) && endpoint.enabled) {
        await disableEndpoint(tx, d.endpointId, endpoint.url, gone ? 'gone' : 'failing', failingSince, now)
        disabled.inc({ reason: gone ? 'gone' : 'failing' })
      }
      const windowOver = now.getTime() - d.retryWindowStart.getTime() >= settings.retryForSeconds * 1000
      const final = gone || windowOver
      const delayMs = nextDelayMs(attempt, settings.retry, parseRetryAfter(result.retryAfter))
      await tx
        .updateTable('webhook_deliveries')
        .set({
          ...last,
          status: final ? 'failed' : 'pending',
          next_attempt_at: sql`now() + make_interval(secs => ${delayMs / 1000})`,
        })
        .where('id', '=', d.id)
        .execute()
      return final ? ('failed' as const) : ('retry' as const)
    })
    if (outcome !== 'retry') finished.inc({ status: outcome })
  }

  function launch(d: Claimed): void {
    total++
    inFlight.set(d.endpointId, (inFlight.get(d.endpointId) ?? 0) + 1)
    const work = deliver(d, stopping.signal)
      .catch((error: unknown) =>
        logger.error({ err: error, deliveryId: d.id }, 'webhook delivery failed to record'),
      )
      .finally(() => {
        total--
        const left = (inFlight.get(d.endpointId) ?? 1) - 1
        if (left > 0) inFlight.set(d.endpointId, left)
        else inFlight.delete(d.endpointId)
        running.delete(work)
        loop.wake()
      })
    running.add(work)
  }

  const loop = createBackgroundLoop({
    name: 'webhook-delivery',
    logger,
    idleMs: settings.pollMs,
    async run() {
      const claimed = await claim()
      for (const d of claimed) launch(d)
      return claimed.length > 0 && total < settings.concurrency
    },
  })

  return {
    start() {
      stopping = new AbortController()
      loop.start()
    },
    wake: () => loop.wake(),
    async stop() {
      await loop.stop()
      stopping.abort()
      await Promise.all([...running])
    },
  }
}

/** Takes up to `limit` rows, one endpoint at a time in turn, so the first endpoints cannot take every slot. */
function roundRobin<T extends { endpoint_id: string }>(rows: readonly T[], limit: number): T[] {
  const queues = new Map<string, T[]>()
  for (const r of rows) queues.set(r.endpoint_id, [...(queues.get(r.endpoint_id) ?? []), r])
  const out: T[] = []
  while (out.length < limit && queues.size > 0) {
    for (const [id, queue] of queues) {
      const next = queue.shift()
      if (next) out.push(next)
      if (queue.length === 0) queues.delete(id)
      if (out.length >= limit) break
    }
  }
  return out
}

function resultClass(r: SendResult): string {
  if (r.status === null) return r.refused ? 'refused' : 'network'
  return `${Math.floor(r.status / 100)}xx`
}

/**
 * Turns an endpoint off for a reason of the service's own and tells the organizer: a notice the console lists until
 * acknowledged, and a webhook.endpoint-disabled event (which other endpoints may subscribe to), in one transaction.
 * There is no organizer email address in this system; the notice, the event and the metric are how they are told.
 */
async function disableEndpoint(
  tx: Db,
  endpointId: string,
  url: string,
  reason: 'gone' | 'failing',
  failingSince: Date,
  now: Date,
): Promise<void> {
  await tx
    .updateTable('webhook_endpoints')
    .set({ enabled: false, disabled_reason: reason, disabled_at: now, updated_at: now })
    .where('id', '=', endpointId)
    .execute()
  const hours = Math.round(((now.getTime() - failingSince.getTime()) / 3_600_000) * 10) / 10
  await tx
    .insertInto('webhook_notices')
    .values({
      id: uuidv7(),
      endpoint_id: endpointId,
      kind: `endpoint-disabled-${reason}`,
      message:
        reason === 'gone'
          ? `${url} answered 410 Gone, so it was disabled. Enable it again once it wants deliveries.`
          : `${url} failed every delivery since ${failingSince.toISOString()} (${hours} h), so it was disabled. ` +
            'Fix it and enable it again: deliveries still pending resume then; failed ones can be redelivered.',
    })
    .execute()
  await appendToOutbox(tx, [
    buildEvent('webhook.endpoint-disabled', endpointId, {
      endpointId,
      url,
      reason,
      failingSince: reason === 'failing' ? failingSince.toISOString() : null,
      disabledAt: now.toISOString(),
    }),
  ])
}
