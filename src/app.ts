import { randomBytes } from 'node:crypto'
import { createGuard } from './auth/guard.ts'
import { authModule } from './auth/index.ts'
import { type PasswordHasher, passwordHasherFromConfig } from './auth/passwords.ts'
import { createTokenService } from './auth/tokens.ts'
import { bookingModule } from './booking/index.ts'
import { catalogModule } from './catalog/index.ts'
import { couponModule } from './coupon/index.ts'
import { dataPlatformModule } from './dataplatform/index.ts'
import { createEventBackbone, createTransport, type EventBackbone } from './events/backbone.ts'
import type { EventTransport } from './events/transport/port.ts'
import { liveModule } from './live/index.ts'
import type { AppContext, Module, Task } from './module.ts'
import { notificationModule } from './notification/index.ts'
import { opsModule } from './ops/index.ts'
import { paymentModule } from './payment/index.ts'
import type { Config } from './platform/config.ts'
import type { DatabaseHandle } from './platform/db.ts'
import { createHttpServer, type HttpServer, scopedRoutes } from './platform/http-server.ts'
import { createLogger, type Logger } from './platform/logger.ts'
import { createMetrics, type Metrics } from './platform/metrics.ts'
import { observeGroupCommits, warmRoutineConnections } from './platform/prepared.ts'
import type { AdmissionLoop } from './queue/admission-loop.ts'
import { prepareQueue, queueModule } from './queue/index.ts'
import { rankingModule } from './ranking/index.ts'
import { retentionModule } from './retention/index.ts'
import { waitlistModule } from './waitlist/index.ts'
import { walletModule } from './wallet/index.ts'
import { webModule } from './web/index.ts'
import { webhooksModule } from './webhooks/index.ts'

export interface AppOptions {
  config: Config
  database: DatabaseHandle
  logger?: Logger
  /** Defaults to Kafka when KAFKA_BROKERS is set, else the embedded transport. */
  transport?: EventTransport
  /** No admission rounds but those `admission.tick()` runs (tests that move the line step by step). */
  manualAdmission?: boolean
}

export interface App {
  readonly http: HttpServer
  readonly config: Config
  readonly database: DatabaseHandle
  readonly metrics: Metrics
  readonly logger: Logger
  readonly adminKey: string
  /** Password hashing through the bounded pool (the demo seed uses it too). */
  readonly passwords: PasswordHasher
  readonly admission: AdmissionLoop
  readonly events: EventBackbone
  /** Starts the event backbone and the slices' background tasks for this instance's roles; `listen` is the caller's. */
  start(): Promise<void>
  /** Stops taking requests, stops the tasks, drains consumers, closes the database. */
  close(): Promise<void>
}

/**
 * The composition root: builds the shared parts by hand, then installs the slices in this order. Each slice
 * registers its own routes, event handlers and listeners, and hands back its background tasks.
 */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config, database } = options
  const logger = options.logger ?? createLogger(config.LOG_LEVEL)
  const metrics = createMetrics()
  observeGroupCommits(database, (routine, calls, together) => {
    metrics.groupCommitSize.observe({ routine }, calls)
    if (together > 0) metrics.groupCommitTogether.inc({ routine }, together)
  })
  const adminKey = config.ADMIN_KEY ?? randomBytes(18).toString('base64url')
  const tokens = createTokenService(
    config.AUTH_SECRET ?? randomBytes(32).toString('base64url'),
    config.ACCESS_TOKEN_TTL_SECONDS,
  )
  const passwords = passwordHasherFromConfig(config)
  const queue = queueModule(config.QUEUE_TOKEN_TTL_SECONDS, {
    manualAdmission: options.manualAdmission ?? false,
  })
  const booking = bookingModule({ answerFromMemory: config.SEAT_CACHE_TTL_MS > 0 })
  const guard = createGuard(tokens, adminKey, (claims) =>
    queue.watch.isRevoked(claims.scheduleId, claims.userId, claims.seq),
  )
  const http = await createHttpServer({
    logger,
    metrics,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    docs: {
      title: 'Flash-sale ticketing API',
      version: '0.1.0',
      description:
        'Waiting room, seat holds, point payments and coupons. Errors share one body: {code, message, details}.',
    },
  })
  const transport = options.transport ?? (await createTransport(config, database, logger))
  const events = createEventBackbone({ config, database, transport, logger, registry: metrics.registry })
  const ctx: AppContext = {
    config,
    database,
    db: database.db,
    logger,
    metrics,
    tokens,
    guard,
    events,
    http,
    admin: scopedRoutes(http, guard.adminHook, { security: [{ adminKey: [] }], tags: ['organizer'] }),
  }

  const modules: Module[] = [
    opsModule,
    authModule(passwords),
    walletModule,
    catalogModule({ onScheduleCreated: prepareQueue }),
    queue,
    booking,
    paymentModule({ board: booking.board, watch: queue.watch }),
    waitlistModule,
    liveModule({ board: booking.board, watch: queue.watch }),
    couponModule,
    rankingModule,
    notificationModule,
    dataPlatformModule,
    webhooksModule,
    retentionModule,
    webModule,
  ]
  const tasks: Task[] = []
  for (const module of modules) tasks.push(...((await module.install(ctx)) ?? []))
  const ours = tasks.filter((t) => !t.roles || t.roles.some((role) => config.roles.has(role)))

  let started: Task[] = []
  let closed = false
  return {
    http,
    config,
    database,
    metrics,
    logger,
    adminKey,
    passwords,
    admission: queue.admission,
    events,
    async start() {
      if (config.roles.has('api'))
        await warmRoutineConnections(database).catch((error: unknown) =>
          logger.warn(
            { err: error },
            "the routines' connections were not warmed: the first fans will open them",
          ),
        )
      await events.start({ relay: config.roles.has('relay'), workers: config.roles.has('workers') })
      for (const task of ours) {
        await task.start()
        started.push(task)
      }
    },
    async close() {
      if (closed) return
      closed = true
      // No new requests, then no new background work, then drain consumers, then the database.
      await http.close()
      for (const task of started.reverse()) await task.stop()
      started = []
      await events.stop()
      await database.close()
    },
  }
}
