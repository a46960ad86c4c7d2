import { randomBytes } from 'node:crypto'
import { authRoutes } from './auth/auth-routes.ts'
import { createGuard } from './auth/guard.ts'
import { createTokenService } from './auth/tokens.ts'
import { SEAT_RELEASED } from './booking/booking-repository.ts'
import { bookingRoutes } from './booking/booking-routes.ts'
import { holdExpirationHandler, startSweeper } from './booking/hold-expiration.ts'
import { TakenSeats } from './booking/taken-seats.ts'
import { catalogRoutes } from './catalog/catalog-routes.ts'
import { couponRequestRoutes } from './coupon/coupon-request-routes.ts'
import { couponRoutes } from './coupon/coupon-routes.ts'
import { couponIssuanceHandler } from './coupon/first-come.ts'
import { createHttpDataPlatformClient } from './dataplatform/data-platform-client.ts'
import { dataPlatformHandler } from './dataplatform/data-platform-handler.ts'
import { createEventBackbone, createTransport, type EventBackbone } from './events/backbone.ts'
import type { EventTransport } from './events/transport/port.ts'
import { createChannels } from './notification/channels.ts'
import {
  notificationComposer,
  notificationDelivery,
  notifiedEventTypes,
} from './notification/notification-handlers.ts'
import { notificationRoutes } from './notification/notification-routes.ts'
import { deadLetterRoutes } from './ops/dead-letter-routes.ts'
import { opsRoutes } from './ops/ops-routes.ts'
import { paymentRoutes } from './payment/payment-routes.ts'
import type { Config } from './platform/config.ts'
import type { DatabaseHandle } from './platform/db.ts'
import { createHttpServer, type HttpServer } from './platform/http-server.ts'
import { createLogger, type Logger } from './platform/logger.ts'
import { createMetrics, type Metrics } from './platform/metrics.ts'
import { listen } from './platform/pg-listen.ts'
import { type AdmissionLoop, createAdmissionLoop } from './queue/admission-loop.ts'
import { prepareQueue, type QueueSettings } from './queue/queue-repository.ts'
import { queueRoutes } from './queue/queue-routes.ts'
import { rankingHandler } from './ranking/ranking-handler.ts'
import { rankingRoutes } from './ranking/ranking-routes.ts'
import { walletRoutes } from './wallet/wallet-routes.ts'

export interface AppOptions {
  config: Config
  database: DatabaseHandle
  logger?: Logger
  /** Defaults to Kafka when KAFKA_BROKERS is set, else the embedded transport. */
  transport?: EventTransport
}

export interface App {
  readonly http: HttpServer
  readonly config: Config
  readonly database: DatabaseHandle
  readonly metrics: Metrics
  readonly logger: Logger
  readonly adminKey: string
  readonly admission: AdmissionLoop
  readonly events: EventBackbone
  /** Starts background loops (queue admission); `listen` is the caller's. */
  start(): Promise<void>
  /** Stops loops, finishes in-flight requests, closes the database. */
  close(): Promise<void>
}

/** The composition root: builds every part by hand, in order. Nothing listens until the caller says so. */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config, database } = options
  const logger = options.logger ?? createLogger(config.LOG_LEVEL)
  const metrics = createMetrics()
  const secret = config.AUTH_SECRET ?? randomBytes(32).toString('base64url')
  const adminKey = config.ADMIN_KEY ?? randomBytes(18).toString('base64url')
  const tokens = createTokenService(secret, config.ACCESS_TOKEN_TTL_SECONDS)
  const guard = createGuard(tokens, adminKey)
  const db = database.db

  const http = await createHttpServer({
    logger,
    metrics,
    docs: {
      title: 'Flash-sale ticketing API',
      version: '0.1.0',
      description:
        'Waiting room, seat holds, point payments and coupons. Errors share one body: {code, message, details}.',
    },
  })

  http.get('/health', { schema: { tags: ['ops'], summary: 'Liveness' } }, async () => ({ status: 'ok' }))
  http.get(
    '/ready',
    { schema: { tags: ['ops'], summary: 'Readiness: the database answers' } },
    async (_req, reply) => {
      try {
        await db.selectNoFrom((eb) => eb.lit(1).as('one')).execute()
        return { status: 'ready' }
      } catch {
        reply.status(503)
        return { code: 'NOT_READY', message: 'The database does not answer.' }
      }
    },
  )
  http.get(
    '/metrics',
    { schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: true } },
    async (_req, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    },
  )

  await http.register(authRoutes({ db, tokens }))
  const queueSettings: QueueSettings = {
    maxActive: config.QUEUE_MAX_ACTIVE,
    ratePerSecond: config.QUEUE_ADMIT_PER_SECOND,
    admittedTtlSeconds: config.QUEUE_TOKEN_TTL_SECONDS,
  }
  const admission = createAdmissionLoop(db, queueSettings, config.QUEUE_TICK_MS, logger)

  await http.register(walletRoutes({ db, guard }))
  await http.register(catalogRoutes({ db, guard, onScheduleCreated: prepareQueue }))
  await http.register(queueRoutes({ db, guard, tokens, settings: queueSettings }))
  const takenSeats = new TakenSeats(config.SEAT_CACHE_TTL_MS)
  await http.register(
    bookingRoutes({
      db,
      guard,
      holdTtlSeconds: config.HOLD_TTL_SECONDS,
      maxHoldsPerUser: config.MAX_HOLDS_PER_USER,
      takenSeats,
    }),
  )
  await http.register(paymentRoutes({ db, guard, takenSeats }))
  await http.register(couponRoutes({ db, guard }))
  await http.register(rankingRoutes({ db }))
  await http.register(deadLetterRoutes({ db, guard }))
  await http.register(couponRequestRoutes({ db, guard }))
  await http.register(notificationRoutes({ db, guard }))

  const transport = options.transport ?? (await createTransport(config, database, logger))
  const events = createEventBackbone({ config, database, transport, logger, registry: metrics.registry })
  const channels = createChannels({
    webhookUrl: config.NOTIFY_WEBHOOK_URL,
    slackWebhookUrl: config.SLACK_WEBHOOK_URL,
    discordWebhookUrl: config.DISCORD_WEBHOOK_URL,
    telegramBotToken: config.TELEGRAM_BOT_TOKEN,
    telegramApiUrl: config.TELEGRAM_API_URL,
    timeoutMs: config.NOTIFY_TIMEOUT_MS,
  })
  events.runtime.register(holdExpirationHandler())
  events.runtime.register(rankingHandler())
  events.runtime.register(couponIssuanceHandler())
  for (const type of notifiedEventTypes) events.runtime.register(notificationComposer(type, channels))
  events.runtime.register(notificationDelivery(channels))
  if (config.DATA_PLATFORM_URL) {
    const client = createHttpDataPlatformClient({
      url: config.DATA_PLATFORM_URL,
      timeoutMs: config.DATA_PLATFORM_TIMEOUT_MS,
      authHeader: config.DATA_PLATFORM_AUTH_HEADER,
    })
    events.runtime.register(dataPlatformHandler(client))
  } else {
    logger.info('DATA_PLATFORM_URL not set: confirmed reservations are not synced to a data platform')
  }
  await http.register(opsRoutes({ db, guard, events }))
  const stopSeatListener = await listen(database, SEAT_RELEASED, (seatId) => {
    if (seatId) takenSeats.forget(seatId)
  })
  let stopSweeper: (() => Promise<void>) | undefined

  let closed = false
  return {
    http,
    config,
    database,
    metrics,
    logger,
    adminKey,
    admission,
    events,
    async start() {
      const workers = config.roles.has('workers')
      await events.start({ relay: config.roles.has('relay'), workers })
      if (workers) {
        admission.start()
        stopSweeper = startSweeper(db, logger, config.SWEEP_INTERVAL_MS, config.EXPIRY_GRACE_SECONDS)
      }
    },
    async close() {
      if (closed) return
      closed = true
      // No new requests, then no new background work, then drain consumers, then the database.
      await http.close()
      await admission.stop()
      await stopSweeper?.()
      await events.stop()
      await stopSeatListener()
      await database.close()
    },
  }
}
