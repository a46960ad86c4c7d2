/**
 * Operator CLI: `npm run cli -- <command>`.
 *   seed                       seed demo data into the configured database (DATABASE_URL, else PGlite in DATA_DIR)
 *   migrate                    apply migrations
 *   dead-letters list|show|replay   inspect and replay dead letters through a running service's admin API
 *   bench [paths…] [options]   the benchmark suite (same as npm run bench; `bench --help` lists its paths)
 */
import { spawn } from 'node:child_process'
import { Command, Option } from 'commander'
import { passwordHasherFromConfig } from './auth/passwords.ts'
import { prepareDatabase } from './database.ts'
import { seedDemo } from './demo/seed.ts'
import { ConfigError, loadConfig } from './platform/config.ts'
import { type DatabaseHandle, openDatabase, waitForDatabase } from './platform/db.ts'
import { StartupError } from './platform/errors.ts'

const program = new Command()
  .name('ticketing')
  .description('Operator commands for the flash-sale ticketing service')
  .showHelpAfterError()

async function withDatabase<T>(work: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env)
  const handle = await openDatabase(config, 2)
  try {
    await waitForDatabase(handle, {
      waitSeconds: config.DB_WAIT_SECONDS,
      onWait: (reason) => console.error(`${reason}; waiting (DB_WAIT_SECONDS=${config.DB_WAIT_SECONDS})`),
    })
    await prepareDatabase(handle.db)
    return await work(handle)
  } finally {
    await handle.close()
  }
}

program
  .command('migrate')
  .description('apply database migrations')
  .action(async () => {
    await withDatabase(async () => undefined)
    console.log('migrations applied')
  })

program
  .command('seed')
  .description('seed the demo concert, fans and coupon (once per database)')
  .action(async () => {
    const passwords = passwordHasherFromConfig(loadConfig(process.env))
    const result = await withDatabase((h) => seedDemo(h.db, passwords))
    console.log(result.created ? JSON.stringify(result.summary, null, 2) : 'demo data already present')
  })

const api = (command: Command) =>
  command
    .addOption(
      new Option('--url <url>', 'service base URL').env('TICKETING_URL').default('http://127.0.0.1:3000'),
    )
    .addOption(new Option('--admin-key <key>', 'organizer key').env('ADMIN_KEY').makeOptionMandatory())

/**
 * One admin API call whose answer must carry `field`; a failure ends the command with what went wrong, in one line,
 * and exit code 1.
 */
async function call(
  options: { url: string; adminKey: string },
  method: string,
  path: string,
  field: string,
  body?: unknown,
): Promise<any> {
  const fail = (message: string): never => {
    console.error(message)
    process.exit(1)
  }
  if (!/^https?:\/\//.test(options.url) || !URL.canParse(options.url)) {
    fail(`--url must be the service's http(s) base URL, like http://127.0.0.1:3000, not "${options.url}"`)
  }
  let response: Response
  try {
    response = await fetch(`${options.url.replace(/\/+$/, '')}${path}`, {
      method,
      headers: { 'x-admin-key': options.adminKey, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    })
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    const reason = cause?.code ?? cause?.message ?? (error as Error).message
    return fail(`cannot reach the service at ${options.url} (${reason}); set --url or TICKETING_URL`)
  }
  const text = await response.text()
  let payload: any
  try {
    payload = JSON.parse(text)
  } catch {
    payload = undefined
  }
  if (!response.ok && typeof payload?.code === 'string') {
    return fail(`${response.status} ${payload.code}: ${payload.message}`)
  }
  if (!response.ok || payload?.[field] === undefined) {
    return fail(
      `${options.url} answered ${response.status} with something other than the ticketing API's JSON: ${text.slice(0, 120)}`,
    )
  }
  return payload
}

const deadLetters = program.command('dead-letters').description('list, inspect and replay dead letters')

api(deadLetters.command('list'))
  .description('list dead letters, newest first')
  .option('--status <status>', 'dead or replayed', 'dead')
  .option('--group <group>', 'consumer group')
  .option('--limit <n>', 'how many', '50')
  .action(async (options) => {
    const query = new URLSearchParams({ status: options.status, limit: options.limit })
    if (options.group) query.set('group', options.group)
    const { deadLetters: rows } = await call(options, 'GET', `/admin/dead-letters?${query}`, 'deadLetters')
    if (rows.length === 0) return console.log('no dead letters')
    console.table(
      rows.map((d: Record<string, unknown>) => ({
        id: d.id,
        group: d.group,
        topic: d.originalTopic,
        'partition/offset': `${d.originalPartition}/${d.originalOffset}`,
        attempts: d.attempts,
        lastFailedAt: d.lastFailedAt,
        error: String(d.error).slice(0, 60),
      })),
    )
  })

api(deadLetters.command('show <id>'))
  .description('one dead letter with its record')
  .action(async (id, options) => {
    console.log(JSON.stringify(await call(options, 'GET', `/admin/dead-letters/${id}`, 'id'), null, 2))
  })

api(deadLetters.command('replay [ids...]'))
  .description('send dead letters back to their original topic')
  .option('--all', 'every dead letter still dead')
  .option('--group <group>', 'every dead letter of this consumer group')
  .action(async (ids: string[], options) => {
    if (ids.length === 0 && !options.all && !options.group) {
      console.error('name dead letter ids, or --all, or --group <group>')
      process.exit(2)
    }
    const body = ids.length > 0 ? { ids } : options.all ? { all: true } : { group: options.group }
    const result = await call(options, 'POST', '/admin/dead-letters/replay', 'replayed', body)
    console.log(`replayed ${result.replayed.length}`)
  })

program
  .command('bench')
  .description('the benchmark suite, as npm run bench (`bench --help` lists its paths and options)')
  .helpOption(false)
  .allowUnknownOption()
  .allowExcessArguments()
  .action((_options, command: Command) => {
    const suite = new URL('../bench/index.ts', import.meta.url).pathname
    const child = spawn(process.execPath, [suite, ...command.args], { stdio: 'inherit' })
    child.on('exit', (code) => process.exit(code ?? 1))
  })

try {
  await program.parseAsync()
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(2)
  }
  if (error instanceof StartupError) {
    console.error(error.message)
    process.exit(1)
  }
  throw error
}
