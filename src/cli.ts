/**
 * Operator CLI: `npm run cli -- <command>`.
 *   seed                       seed demo data into the configured database (DATABASE_URL, else PGlite in DATA_DIR)
 *   migrate                    apply migrations
 *   dead-letters list|show|replay   inspect and replay dead letters through a running service's admin API
 *   bench holds|events         run a load scenario (same as npm run bench:*)
 */
import { spawn } from 'node:child_process'
import { Command, Option } from 'commander'
import { passwordHasherFromConfig } from './auth/passwords.ts'
import { prepareDatabase } from './database.ts'
import { seedDemo } from './demo/seed.ts'
import { ConfigError, loadConfig } from './platform/config.ts'
import { type DatabaseHandle, openDatabase } from './platform/db.ts'

const program = new Command()
  .name('ticketing')
  .description('Operator commands for the flash-sale ticketing service')
  .showHelpAfterError()

async function withDatabase<T>(work: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = await openDatabase(loadConfig(process.env), 2)
  try {
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

async function call(
  options: { url: string; adminKey: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const response = await fetch(`${options.url}${path}`, {
    method,
    headers: { 'x-admin-key': options.adminKey, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  const payload: any = await response.json()
  if (!response.ok) {
    console.error(`${response.status} ${payload.code}: ${payload.message}`)
    process.exit(1)
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
    const { deadLetters: rows } = await call(options, 'GET', `/admin/dead-letters?${query}`)
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
    console.log(JSON.stringify(await call(options, 'GET', `/admin/dead-letters/${id}`), null, 2))
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
    const result = await call(options, 'POST', '/admin/dead-letters/replay', body)
    console.log(`replayed ${result.replayed.length}`)
  })

program
  .command('bench <scenario>')
  .description('run a load scenario: holds or events (extra arguments pass through)')
  .allowUnknownOption()
  .action((scenario: string, _options, command: Command) => {
    if (!['holds', 'events'].includes(scenario)) {
      console.error('scenario must be holds or events')
      process.exit(2)
    }
    const child = spawn(process.execPath, [`bench/${scenario}.ts`, ...command.args.slice(1)], {
      stdio: 'inherit',
    })
    child.on('exit', (code) => process.exit(code ?? 1))
  })

try {
  await program.parseAsync()
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(2)
  }
  throw error
}
