import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type App, buildApp } from './app.ts'
import { prepareDatabase } from './database.ts'
import { seedDemo } from './demo/seed.ts'
import { type Config, ConfigError, loadConfig } from './platform/config.ts'
import { openDatabase, waitForDatabase } from './platform/db.ts'
import { StartupError } from './platform/errors.ts'
import { listenShared } from './platform/http-server.ts'
import { createLogger } from './platform/logger.ts'
import { turnOffPretenuring } from './platform/v8-flags.ts'

function persistedSecret(dataDir: string, name: string, bytes: number): string {
  const file = join(dataDir, name)
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  const secret = randomBytes(bytes).toString('base64url')
  writeFileSync(file, secret, { mode: 0o600 })
  return secret
}

async function main(): Promise<void> {
  turnOffPretenuring()
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      process.exit(2)
    }
    throw error
  }
  const logger = createLogger(config.LOG_LEVEL)
  // What a failed start must undo before its exit: nothing, then the database (PGlite's data folder is released
  // with it), then the whole app once it runs.
  let release = async () => {}
  let app: App
  let address: string
  try {
    const database = await openDatabase(config)
    release = () => database.close()
    logger.info(
      { database: database.kind, dataDir: database.kind === 'pglite' ? config.DATA_DIR : undefined },
      'database',
    )
    await waitForDatabase(database, {
      waitSeconds: config.DB_WAIT_SECONDS,
      onWait: (reason, attempt) =>
        logger.warn({ attempt }, `${reason}; waiting (DB_WAIT_SECONDS=${config.DB_WAIT_SECONDS})`),
    })
    await prepareDatabase(database.db)

    // Embedded mode keeps its generated secrets in the data folder, so tokens and the admin key survive restarts.
    if (database.kind === 'pglite') {
      config = Object.freeze({
        ...config,
        AUTH_SECRET: config.AUTH_SECRET ?? persistedSecret(config.DATA_DIR, 'auth-secret', 32),
        ADMIN_KEY: config.ADMIN_KEY ?? persistedSecret(config.DATA_DIR, 'admin-key', 18),
      })
    }
    app = await buildApp({ config, database, logger })
    const seed = config.SEED_DEMO === 'true' || (config.SEED_DEMO === 'auto' && database.kind === 'pglite')
    if (seed) {
      const demo = await seedDemo(database.db, app.passwords)
      if (demo.created) logger.info(demo.summary, 'demo data seeded')
    }
    await app.start()
    const running = app
    release = () => running.close()
    address = await listen(app, config)
  } catch (error) {
    if (!(error instanceof StartupError)) throw error
    logger.fatal(error.message)
    await release()
    process.exit(1)
  }
  if (!process.env.ADMIN_KEY)
    logger.warn({ adminKey: app.adminKey }, 'ADMIN_KEY not set: using a generated key')
  if (!config.AUTH_SECRET) logger.warn('AUTH_SECRET not set: tokens are signed with a random per-process key')
  logger.info({ address, docs: `${address}/docs` }, 'ticketing service listening')

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down: finishing in-flight work')
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 25 s; exiting')
      process.exit(1)
    }, 25_000)
    force.unref()
    await app.close()
    logger.info('stopped')
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

/** Why the HTTP port could not be taken, in words, with the setting that changes it. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'another process already listens there (set PORT to a free port)',
  EACCES: 'this user may not listen on that port (ports below 1024 need privileges; set PORT)',
  EADDRNOTAVAIL:
    "that address is not one of this machine's (set HOST, for example 0.0.0.0 for every interface)",
  ENOTFOUND: 'HOST is not a known name or address',
}

/** The app on its HTTP port; a port it cannot take is a StartupError saying why, in words. */
async function listen(app: App, config: Config): Promise<string> {
  try {
    return await listenShared(app.http, {
      port: config.PORT,
      host: config.HOST,
      sockets: config.LISTEN_SOCKETS,
    })
  } catch (error) {
    const why = LISTEN_ERRORS[(error as { code?: string }).code ?? '']
    if (!why) throw error
    throw new StartupError(`cannot listen on ${config.HOST}:${config.PORT}: ${why}`)
  }
}

await main()
