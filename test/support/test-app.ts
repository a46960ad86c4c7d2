import { randomBytes } from 'node:crypto'
import { type App, buildApp } from '../../src/app.ts'
import { parseEvent } from '../../src/events/envelope.ts'
import type { EventType } from '../../src/events/event-types.ts'
import { loadConfig } from '../../src/platform/config.ts'
import { openPostgres } from '../../src/platform/db.ts'
import { listenShared } from '../../src/platform/http-server.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createTestDatabase, type DatabaseKind } from './databases.ts'

export interface TestApp {
  readonly app: App
  readonly url: string
  readonly adminKey: string
  readonly kind: DatabaseKind
  close(): Promise<void>
}

/**
 * The whole service on a fresh database, listening on a loopback port. Background admission is off unless asked:
 * tests drive `app.admission.tick()` so that order is deterministic.
 */
export async function startTestApp(
  kind: DatabaseKind,
  name: string,
  overrides: Record<string, unknown> = {},
  options: { background?: boolean; poolSize?: number; manualAdmission?: boolean } = {},
): Promise<TestApp> {
  const adminKey = randomBytes(16).toString('hex')
  // The configuration first: a test's bad override then leaves no database behind.
  const config = loadConfig(
    {},
    {
      PORT: 0,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ADMIN_KEY: adminKey,
      AUTH_SECRET: randomBytes(32).toString('hex'),
      ROLES: options.background ? 'api,relay,workers' : 'api',
      // Cheap hashes and room for every test's sign-ups at once; test/api/passwords.test.ts runs the real cost.
      PASSWORD_HASH_COST: 12,
      // Tests charge points freely (test/api/top-ups.test.ts turns it off).
      DEMO_TOP_UP: 'true',
      PASSWORD_HASH_QUEUE: 10_000,
      // Every test fan signs up from 127.0.0.1; test/api/auth-limits.test.ts runs real limits.
      AUTH_RATE_PER_ADDRESS: 1_000_000,
      AUTH_RATE_PER_ACCOUNT: 1_000,
      ...overrides,
    },
  )
  const database = await createTestDatabase(kind, name, options.poolSize)
  let app: App | undefined
  let url: string
  try {
    // Without the background roles the test moves the waiting line itself, with admission.tick().
    app = await buildApp({
      config,
      database,
      logger: createLogger(config.LOG_LEVEL),
      manualAdmission: options.manualAdmission ?? !options.background,
    })
    await app.start()
    url = await listenShared(app.http, { port: 0, host: '127.0.0.1', sockets: config.LISTEN_SOCKETS })
  } catch (error) {
    // A start that failed half-way closes what it opened (the app closes its database), then fails the test.
    await (app ? app.close() : database.close()).catch(() => {})
    throw error
  }
  const started = app
  return {
    app: started,
    url,
    adminKey,
    kind,
    async close() {
      // Every event still in the outbox (all of them where no relay runs) is a valid envelope of its type, whether a
      // use case built it in TypeScript or a routine in SQL.
      try {
        await assertOutboxValid(started)
      } finally {
        await started.close()
      }
    },
  }
}

/** Puts fans through the waiting room: they enter in the given order, admission runs, each gets its queue token. */
export async function admitFans(
  t: TestApp,
  api: import('./api-client.ts').Api,
  scheduleId: string,
  fans: readonly import('./flows.ts').Fan[],
): Promise<string[]> {
  for (const fan of fans) {
    const entered = await api.post(`/schedules/${scheduleId}/queue`, { token: fan.token })
    if (entered.status !== 201 && entered.status !== 200) throw new Error(`enter: ${entered.status}`)
  }
  const tokens: string[] = []
  for (let round = 0; round < 1000 && tokens.length < fans.length; round++) {
    await t.app.admission.tick()
    tokens.length = 0
    for (const fan of fans) {
      const me = await api.get(`/schedules/${scheduleId}/queue/me`, { token: fan.token })
      if (me.body.token) tokens.push(me.body.token)
    }
    if (tokens.length < fans.length) await new Promise((r) => setTimeout(r, 50))
  }
  if (tokens.length < fans.length) throw new Error(`only ${tokens.length}/${fans.length} fans admitted`)
  return tokens
}

async function assertOutboxValid(app: App): Promise<void> {
  const rows = await app.database.db.selectFrom('outbox').select(['topic', 'event']).execute()
  for (const row of rows) {
    const value = typeof row.event === 'string' ? row.event : JSON.stringify(row.event)
    try {
      parseEvent(value, row.topic as EventType)
    } catch (error) {
      throw new Error(`an invalid ${row.topic} event in the outbox: ${(error as Error).message}\n${value}`)
    }
  }
}

/**
 * A second API instance on the first one's PostgreSQL database (same secret and admin key), with its own memory of
 * seats and of the line. It runs no admission rounds: the test moves the line on the first instance.
 */
export async function startSecondInstance(
  first: TestApp,
  secret: string,
  overrides: Record<string, unknown> = {},
): Promise<{ app: App; url: string }> {
  const url = (first.app.database as { url?: string }).url
  if (!url) throw new Error('a second instance needs the first on PostgreSQL')
  const config = loadConfig(
    {},
    {
      PORT: 0,
      LOG_LEVEL: 'silent',
      AUTH_SECRET: secret,
      ADMIN_KEY: first.adminKey,
      ROLES: 'api',
      ...overrides,
    },
  )
  const app = await buildApp({
    config,
    database: openPostgres(url, 5),
    logger: createLogger('silent'),
    manualAdmission: true,
  })
  await app.start()
  return {
    app,
    url: await listenShared(app.http, { port: 0, host: '127.0.0.1', sockets: config.LISTEN_SOCKETS }),
  }
}
