// `npm test`: every test file, one at a time, with what the suites need checked first and Kafka started here unless
// KAFKA_BROKERS names a cluster (then it is used and left alone). A skipped test fails the run unless TEST_TRANSPORTS
// or TEST_DATABASES narrowed it on purpose. See README "Run it" and scripts/kafka/README.md.
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { finished } from 'node:stream/promises'
import { run } from 'node:test'
import { spec, type TestEvent } from 'node:test/reporters'
import { fileURLToPath } from 'node:url'
import {
  chromiumProblem,
  kafkaToolsProblem,
  POSTGRES_URL,
  postgresProblem,
  promtoolProblem,
} from './test-runner/preflight.ts'
import { Progress, type Totals } from './test-runner/progress.ts'
import { needsOf, type Selection, selectFiles, UsageError } from './test-runner/select-files.ts'
import { runShared } from './test-runner/shared-runs.ts'
import { endedForSilence, fileProcesses, reportFlags, whatKeepsAlive } from './test-runner/stuck-files.ts'
import { startTestCluster, type TestCluster } from './test-runner/test-cluster.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const REPORT_FILE = process.env.TEST_REPORT_FILE ?? join(ROOT, 'test-output', 'report.log')
/** Where a silent test process writes the diagnostic report it is asked for. */
const NODE_REPORTS_DIR = join(dirname(REPORT_FILE), 'node-reports')
const TEST_TIMEOUT_MS = 300_000
// A file whose tests all ended but whose process stays alive (a client or server left open), or a test that ignores
// its timeout, would hold the run until CI gives up: after no test event for longer than any test may take, the
// process of the file still running is ended (it fails, with what kept it alive named) and the run goes on.
const IDLE_LIMIT_MS = Number(process.env.TEST_IDLE_LIMIT_MS) || TEST_TIMEOUT_MS + 60_000
// Every file runs in its own process: Node's compile cache keeps their parsed and type-stripped modules between
// processes and runs (0.6 s -> 0.35 s to load the service per file). Node checks each entry against the source.
process.env.NODE_COMPILE_CACHE ??= join(ROOT, 'node_modules', '.cache', 'node-compile')
const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }
const say = (line: string) => process.stdout.write(`${line}\n`)

interface Plan {
  selection: Selection
  /** The selected files minus those TEST_DATABASES left out. */
  files: string[]
  /** What narrowed the run on purpose: only these allow skips. */
  narrowing: string[]
  /** Other ways the run was narrowed, for the summary. */
  notes: string[]
  usesPostgres: boolean
  kafkaFiles: string[]
  chromiumFiles: string[]
  promtoolFiles: string[]
  /** KAFKA_BROKERS as given by the user. */
  given: string | undefined
}

function plan(argv: string[]): Plan {
  const selection = selectFiles(argv, ROOT, process.env.INIT_CWD ?? process.cwd())
  const databases = kindsOf('TEST_DATABASES', ['pglite', 'postgres'])
  const transports = kindsOf('TEST_TRANSPORTS', ['local', 'kafka'])
  const narrowing: string[] = []
  if (transports.narrowed) narrowing.push(`TEST_TRANSPORTS=${transports.kinds.join(',')}`)
  if (databases.narrowed) narrowing.push(`TEST_DATABASES=${databases.kinds.join(',')}`)
  const postgres = databases.kinds.includes('postgres')

  const needs = new Map(selection.files.map((f) => [f, needsOf(f, ROOT)]))
  const need = (f: string) => needs.get(f)!
  const withoutServer = postgres ? [] : selection.files.filter((f) => need(f).postgresAlways)
  const files = selection.files.filter((f) => !withoutServer.includes(f))
  const notes: string[] = []
  if (selection.fileArgs.length > 0)
    notes.push(`${selection.files.length} of ${selection.total} files (${selection.fileArgs.join(' ')})`)
  for (const p of selection.namePatterns) notes.push(`--test-name-pattern=${p}`)
  for (const p of selection.skipPatterns) notes.push(`--test-skip-pattern=${p}`)
  if (selection.concurrency > 1) notes.push(`--test-concurrency=${selection.concurrency}`)
  if (selection.isolation === 'none') notes.push('--test-isolation=none')
  if (withoutServer.length > 0)
    notes.push(
      `${plural(withoutServer.length, 'file')} needing the PostgreSQL server left out: ${withoutServer.join(', ')}`,
    )
  return {
    selection,
    files,
    narrowing,
    notes,
    usesPostgres: postgres && files.some((f) => need(f).postgresAlways || need(f).postgresPerKind),
    kafkaFiles: transports.kinds.includes('kafka') ? files.filter((f) => need(f).kafka) : [],
    chromiumFiles: files.filter((f) => need(f).chromium),
    promtoolFiles: files.filter((f) => need(f).promtool),
    given: process.env.KAFKA_BROKERS?.trim() || undefined,
  }
}

/** A narrowing variable: the kinds it keeps (all when unset) and whether it leaves any out. */
function kindsOf(name: string, all: string[]): { kinds: string[]; narrowed: boolean } {
  const value = process.env[name]?.trim()
  const kinds = value ? value.split(',').map((k) => k.trim()) : all
  return { kinds, narrowed: all.some((k) => !kinds.includes(k)) }
}

/** Everything that can be checked in a second, checked before anything slow starts: one line per problem. */
async function preflight(p: Plan, startKafka: boolean): Promise<string[]> {
  const problems = [
    p.usesPostgres ? await postgresProblem() : undefined,
    p.chromiumFiles.length > 0 ? chromiumProblem(p.chromiumFiles) : undefined,
    p.promtoolFiles.length > 0 ? promtoolProblem(p.promtoolFiles) : undefined,
    startKafka ? kafkaToolsProblem() : undefined,
  ]
  return problems.filter((problem) => problem !== undefined)
}

/** The first SIGINT, SIGTERM or SIGHUP aborts the run; the caller still stops what it started. */
function onInterrupt(what: string, abort: AbortController): () => NodeJS.Signals | undefined {
  let interrupted: NodeJS.Signals | undefined
  let at = 0
  const handle = (signal: NodeJS.Signals) => {
    // A Ctrl-C reaches this process twice, from the terminal and forwarded by npm: one interruption.
    if (interrupted && Date.now() - at < 2000) return
    say(interrupted ? `${signal}: still stopping ${what}...` : `\n${signal}: stopping ${what}`)
    if (interrupted) return
    interrupted = signal
    at = Date.now()
    abort.abort()
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, handle)
  return () => interrupted
}

async function main(): Promise<number> {
  const t0 = Date.now()
  const p = plan(process.argv.slice(2))
  process.chdir(ROOT)
  if (p.files.length === 0) {
    say(`npm test: nothing to run (${[...p.narrowing, ...p.notes].join('; ')})`)
    return 1
  }
  const startKafka = !p.given && p.kafkaFiles.length > 0
  const problems = await preflight(p, startKafka)
  for (const problem of problems) say(`npm test: ${problem}`)
  if (problems.length > 0) return 1

  const abort = new AbortController()
  let cluster: TestCluster | undefined
  const interrupted = onInterrupt(
    `the tests${startKafka ? ' and the Kafka cluster this run started' : ''}`,
    abort,
  )
  const { concurrency, isolation } = p.selection
  const header = [
    isolation === 'none'
      ? `${plural(p.files.length, 'test file')} shared by ${plural(Math.min(concurrency, p.files.length), 'process', 'processes')}`
      : `${plural(p.files.length, 'test file')}, ${concurrency === 1 ? 'one' : concurrency} at a time`,
  ]
  if (p.usesPostgres) header.push(`PostgreSQL at ${new URL(POSTGRES_URL).host}`)
  if (p.given) header.push(`Kafka at ${p.given} (KAFKA_BROKERS, left as it is)`)
  say(`npm test: ${header.join('; ')}`)

  let totals: Totals | undefined
  let progress: Progress | undefined
  let kafkaLine: string | undefined
  let failedToStart: string | undefined
  try {
    if (startKafka) {
      const started = Date.now()
      const n = p.kafkaFiles.length
      say(
        `Kafka: ${plural(n, 'file')} need${n === 1 ? 's' : ''} it; starting a 3-broker cluster in .kafka/test`,
      )
      try {
        cluster = await startTestCluster(ROOT, abort.signal, (line) => say(`  ${line}`))
      } catch (error) {
        if (!interrupted()) failedToStart = (error as Error).message
        throw error
      }
      Object.assign(process.env, cluster.env, { KAFKA_BROKERS: cluster.brokers })
      kafkaLine = `3 brokers at ${cluster.brokers} (KAFKA_PORT_BASE=${cluster.portBase}, state .kafka/test)`
      say(`Kafka: ${kafkaLine}, ready in ${seconds(Date.now() - started)}`)
    }
    // The suites fail, rather than skip, when the Kafka they were promised is missing.
    if (cluster || p.given) process.env.TEST_KAFKA_REQUIRED = '1'
    progress = new Progress(p.files, ROOT)
    totals = await runFiles(p, progress, abort.signal)
  } catch (error) {
    if (!interrupted() && !failedToStart) throw error
  } finally {
    progress?.close()
    if (cluster) {
      const keep = !!totals && !interrupted() && totals.failed + totals.cancelled > 0
      await cluster
        .stop(keep)
        .catch((error: Error) => say(`Kafka: could not stop the test cluster: ${error.message}`))
      kafkaLine = `${kafkaLine}, stopped${keep ? '; broker logs kept in .kafka/test/cluster/node-*/logs' : ''}`
    }
  }

  say('─'.repeat(100))
  if (totals) {
    const t = totals
    say(
      `${plural(t.files, 'file')} · ${plural(t.tests, 'test')} · ✔ ${t.passed} · ✖ ${t.failed + t.cancelled} · ` +
        `↷ ${t.skipped} skipped · ${t.todo} todo · ${seconds(Date.now() - t0)}`,
    )
  }
  if (kafkaLine) say(`Kafka: ${kafkaLine}`)
  if (p.narrowing.length + p.notes.length > 0) say(`narrowed: ${[...p.narrowing, ...p.notes].join('; ')}`)
  for (const [reason, count] of progress?.skipReasons ?? []) say(`  ↷ ${count} × ${reason}`)
  if (totals) say(`full report: ${relative(ROOT, REPORT_FILE)}`)

  const signal = interrupted()
  if (signal) {
    say(`INTERRUPTED by ${signal} after ${seconds(Date.now() - t0)}`)
    return SIGNAL_EXIT[signal] ?? 1
  }
  const failure = verdict(totals, p.narrowing.length > 0, failedToStart)
  say(
    failure
      ? `FAILED: ${failure}`
      : `PASSED${totals!.skipped > 0 ? ' (skips allowed: the run was narrowed)' : ''}`,
  )
  return failure ? 1 : 0
}

function verdict(totals: Totals | undefined, narrowed: boolean, failedToStart: string | undefined) {
  if (failedToStart) return `the Kafka test cluster did not start: ${failedToStart}`
  if (!totals) return 'the tests did not run'
  const failed = totals.failed + totals.cancelled
  if (failed > 0) return `${plural(failed, 'test')} failed or cancelled (above)`
  if (totals.tests === 0) return 'no test ran'
  if (totals.todo > 0) return `${plural(totals.todo, 'test')} marked todo`
  if (totals.skipped > 0 && !narrowed)
    return `${plural(totals.skipped, 'test')} skipped; a run that TEST_TRANSPORTS or TEST_DATABASES do not narrow runs everything`
  return undefined
}

/** Runs the files (in order, `concurrency` at a time), reporting progress; the full spec report goes to REPORT_FILE. */
async function runFiles(p: Plan, progress: Progress, signal: AbortSignal): Promise<Totals> {
  mkdirSync(dirname(REPORT_FILE), { recursive: true })
  const report = createWriteStream(REPORT_FILE)
  const full = spec()
  full.pipe(report)
  const { namePatterns, skipPatterns, concurrency, isolation } = p.selection
  const files = p.files.map((f) => join(ROOT, f))
  if (isolation === 'none') {
    // The files that took longest last time start first, so that the processes finish together.
    const durations = readDurations()
    files.sort((a, b) => (durations[relative(ROOT, b)] ?? 0) - (durations[relative(ROOT, a)] ?? 0))
    // Files finish in any order across the processes: each file's events reach the report together.
    const pending = new Map<string, TestEvent[]>()
    await runShared(
      files,
      {
        processes: concurrency,
        timeout: TEST_TIMEOUT_MS,
        namePatterns,
        skipPatterns,
        signal,
        idleLimitMs: IDLE_LIMIT_MS,
        reportDir: NODE_REPORTS_DIR,
      },
      (event) => {
        progress.handle(event)
        const file = (event.data as { file?: string } | undefined)?.file
        if (!file) return void full.write(event)
        const events = pending.get(file) ?? []
        pending.set(file, events)
        events.push(event)
        const fileFailed = event.type === 'test:fail' && event.data.nesting === 0 && event.data.name === file
        if (event.type === 'test:summary' || fileFailed) {
          for (const e of events) full.write(e)
          pending.delete(file)
        }
      },
    )
    for (const events of pending.values()) for (const e of events) full.write(e)
    for (const [file, ms] of progress.durations) durations[relative(ROOT, file)] = ms
    writeDurations(durations)
  } else {
    const idle = new AbortController()
    const watch = setTimeout(() => void endStuckFiles(), IDLE_LIMIT_MS)
    const endStuckFiles = async () => {
      const stuck = fileProcesses(files)
      if (stuck.length === 0) {
        say(
          `npm test: no test event for ${seconds(IDLE_LIMIT_MS)}, and no test file process found; stopping.`,
        )
        idle.abort()
        return
      }
      for (const { pid, file } of stuck) {
        const alive = await whatKeepsAlive(pid, NODE_REPORTS_DIR)
        // Said now, and again under the file's failure at the end, where CI's tail of the output shows it.
        progress.ended(file, endedForSilence(IDLE_LIMIT_MS, alive))
        say(
          `npm test: no test event for ${seconds(IDLE_LIMIT_MS)}; ending ${relative(ROOT, file)} (pid ${pid}): it ` +
            'did not exit after its last test (a client, server or timer left open), or a test ignored its timeout. ' +
            `What kept it alive: ${alive}.`,
        )
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // it exited meanwhile
        }
      }
      watch.refresh()
    }
    const stream = run({
      files,
      concurrency,
      timeout: TEST_TIMEOUT_MS,
      signal: AbortSignal.any([signal, idle.signal]),
      execArgv: reportFlags(NODE_REPORTS_DIR),
      ...(namePatterns.length > 0 ? { testNamePatterns: namePatterns } : {}),
      ...(skipPatterns.length > 0 ? { testSkipPatterns: skipPatterns } : {}),
    })
    for await (const event of stream) {
      watch.refresh()
      progress.handle(event)
      full.write(event)
    }
    clearTimeout(watch)
  }
  progress.close()
  full.end()
  await finished(report)
  return progress.totals
}

const DURATIONS_FILE = join(ROOT, 'node_modules', '.cache', 'flash-sale-tests', 'durations.json')

/** How long each file took when it last ran in a shared process (ms); nothing yet on a fresh clone. */
function readDurations(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(DURATIONS_FILE, 'utf8'))
  } catch {
    return {}
  }
}

function writeDurations(durations: Record<string, number>): void {
  mkdirSync(dirname(DURATIONS_FILE), { recursive: true })
  writeFileSync(DURATIONS_FILE, JSON.stringify(durations, null, 1))
}

const plural = (n: number, noun: string, nouns = `${noun}s`) => `${n} ${n === 1 ? noun : nouns}`

function seconds(ms: number): string {
  const s = ms / 1000
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      ;(error.exitCode === 0 ? process.stdout : process.stderr).write(`${error.message}\n`)
      process.exit(error.exitCode)
    }
    process.stderr.write(`npm test: ${error instanceof Error ? error.stack : error}\n`)
    process.exit(1)
  },
)
