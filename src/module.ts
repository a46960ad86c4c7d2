import type { Guard } from './auth/guard.ts'
import type { TokenService } from './auth/tokens.ts'
import type { EventBackbone } from './events/backbone.ts'
import type { Config, Role } from './platform/config.ts'
import type { DatabaseHandle, Db } from './platform/db.ts'
import type { HttpServer, ScopedRegistrar } from './platform/http-server.ts'
import type { Logger } from './platform/logger.ts'
import type { Metrics } from './platform/metrics.ts'

/** What the composition root hands every slice when it installs it. */
export interface AppContext {
  readonly config: Config
  readonly database: DatabaseHandle
  readonly db: Db
  readonly logger: Logger
  readonly metrics: Metrics
  readonly tokens: TokenService
  readonly guard: Guard
  readonly events: EventBackbone
  /** Public and fan routes (fans authenticate per route with the guard). */
  readonly http: HttpServer
  /** Organizer routes: registered behind the X-Admin-Key check, which no route of theirs can forget. */
  readonly admin: ScopedRegistrar
}

/** Background work a slice runs while the service is up (a loop, a listener). */
export interface Task {
  readonly name: string
  /** The roles whose instances run it; every instance when absent. */
  readonly roles?: readonly Role[]
  start(): void | Promise<void>
  stop(): Promise<void>
}

/**
 * A vertical slice as the composition root sees it: `install` registers its routes, event handlers and listeners,
 * and returns its background tasks, which the root starts and stops in order.
 */
export interface Module {
  readonly name: string
  install(ctx: AppContext): Promise<readonly Task[] | undefined>
}
