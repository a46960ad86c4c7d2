import type { Module } from '../module.ts'
import { createWebhookWorker } from './deliver-webhooks.ts'
import { subscribableEventTypes } from './subscribable-events.ts'
import { webhookAdminRoutes } from './webhook-admin-routes.ts'
import { webhookFanOut } from './webhook-handlers.ts'

/**
 * Organizer webhooks: endpoints subscribe to business events; a consumer group per event type writes the
 * deliveries, and a delivery worker (workers role, any number of instances) sends them signed, with retries.
 */
export const webhooksModule: Module = {
  name: 'webhooks',
  async install({ admin, db, events, config, logger, metrics }) {
    const policy = { allowPrivate: config.WEBHOOKS_ALLOW_PRIVATE === 'true' }
    if (policy.allowPrivate)
      logger.warn('WEBHOOKS_ALLOW_PRIVATE=true: webhooks may call http and private addresses')
    await admin(webhookAdminRoutes, { db, policy, secretGraceSeconds: config.WEBHOOK_SECRET_GRACE_SECONDS })
    for (const type of subscribableEventTypes) events.runtime.register(webhookFanOut(type))
    const worker = createWebhookWorker({
      db,
      logger: logger.child({ slice: 'webhooks' }),
      registry: metrics.registry,
      settings: {
        concurrency: config.WEBHOOK_CONCURRENCY,
        perEndpoint: config.WEBHOOK_ENDPOINT_CONCURRENCY,
        pollMs: config.WEBHOOK_POLL_MS,
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        retry: { baseMs: config.WEBHOOK_RETRY_BASE_MS, maxDelayMs: config.WEBHOOK_RETRY_MAX_DELAY_MS },
        retryForSeconds: config.WEBHOOK_RETRY_FOR_SECONDS,
        disableAfterSeconds: config.WEBHOOK_DISABLE_AFTER_SECONDS,
        policy,
      },
    })
    return [
      {
        name: 'webhook-delivery',
        roles: ['workers'],
        start: () => worker.start(),
        stop: () => worker.stop(),
      },
    ]
  },
}
