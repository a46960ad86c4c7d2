import { existsSync, globSync, readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const ALL_TESTS = 'test/**/*.test.ts'

export interface Selection {
  /** Repo-relative test files to run, sorted. */
  files: string[]
  /** How many test files the repo has. */
  total: number
  /** The file arguments that narrowed the run, as given. */
  fileArgs: string[]
  namePatterns: string[]
  skipPatterns: string[]
  /** Files run at once: 1 unless --test-concurrency says otherwise (only for files that share nothing). */
  concurrency: number
  /**
   * 'process': a process per file; 'none' (--test-isolation=none): `concurrency` processes share the files, one file
   * at a time each (the files must leave nothing behind that the next one would trip on).
   */
  isolation: 'process' | 'none'
}

export const USAGE = `usage: npm test [-- [file|dir|glob ...] [--test-name-pattern=RE ...] [--test-skip-pattern=RE ...]
                   [--test-concurrency=N] [--test-isolation=none]]
  Runs every test file under test/ (or those given), one file at a time, starting the Kafka cluster the
  Kafka suites need unless KAFKA_BROKERS points at one. Narrowing: TEST_TRANSPORTS=local|kafka,
  TEST_DATABASES=pglite|postgres. --test-isolation=none: N processes (--test-concurrency) share the
  files instead of a process per file. npm run test:quick: unit and API tests on PGlite, that way.`

/** Reads the runner's arguments; paths are relative to where the user ran npm (INIT_CWD), files or dirs or globs. */
export function selectFiles(argv: string[], root: string, cwd: string): Selection {
  const { values, positionals } = parseOrExplain(argv)
  if (values.help) throw new UsageError(USAGE, 0)
  const all = globSync(ALL_TESTS, { cwd: root }).sort()
  const files = new Set<string>()
  for (const arg of positionals) {
    const matched = matchArg(arg, root, cwd)
    if (matched.length === 0) throw new UsageError(`npm test: no test file matches ${arg}`, 2)
    for (const file of matched) files.add(file)
  }
  return {
    files: positionals.length > 0 ? [...files].sort() : all,
    total: all.length,
    fileArgs: positionals,
    namePatterns: values['test-name-pattern'] ?? [],
    skipPatterns: values['test-skip-pattern'] ?? [],
    concurrency: concurrencyOf(values['test-concurrency']),
    isolation: isolationOf(values['test-isolation']),
  }
}

/** Bad arguments or --help: the message to print and the exit code. */
export class UsageError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode: number) {
    super(message)
    this.exitCode = exitCode
  }
}

function parseOrExplain(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'test-name-pattern': { type: 'string', multiple: true },
        'test-skip-pattern': { type: 'string', multiple: true },
        'test-concurrency': { type: 'string' },
        'test-isolation': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (error) {
    throw new UsageError(`npm test: ${(error as Error).message}\n${USAGE}`, 2)
  }
}

function concurrencyOf(value: string | undefined): number {
  if (value === undefined) return 1
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`npm test: --test-concurrency wants a positive integer (got ${value})`, 2)
  return n
}

function isolationOf(value: string | undefined): 'process' | 'none' {
  if (value === undefined || value === 'process') return 'process'
  if (value === 'none') return 'none'
  throw new UsageError(`npm test: --test-isolation is process or none (got ${value})`, 2)
}

function matchArg(arg: string, root: string, cwd: string): string[] {
  const path = resolve(cwd, arg)
  let found: string[]
  if (existsSync(path) && statSync(path).isDirectory())
    found = globSync('**/*.test.ts', { cwd: path }).map((f) => resolve(path, f))
  else if (existsSync(path)) found = [path]
  else found = globSync(arg, { cwd }).map((f) => resolve(cwd, f))
  return found
    .map((f) => relative(root, f))
    .filter((f) => !f.startsWith('..') && !isAbsolute(f) && f.endsWith('.ts'))
}

/**
 * What a test file needs from the machine, read from its source and from the test helpers it imports (files under
 * test/; src/ is not followed): whoever reads KAFKA_BROKERS needs Kafka, whoever asks for a 'postgres' database by
 * name needs the server whatever TEST_DATABASES says, whoever loops over databaseKinds needs it when postgres is
 * one of them, and whoever imports playwright-core needs Chromium.
 */
export interface Needs {
  kafka: boolean
  postgresAlways: boolean
  postgresPerKind: boolean
  chromium: boolean
  promtool: boolean
}

const MARKERS: Record<keyof Needs, RegExp> = {
  kafka: /\bKAFKA_BROKERS\b/,
  postgresAlways: /\(\s*['"]postgres['"]/,
  postgresPerKind: /(?<!const\s+)\bdatabaseKinds\b/,
  chromium: /from\s+['"]playwright-core['"]/,
  promtool: /\bPROMTOOL\b/,
}
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g

export function needsOf(file: string, root: string): Needs {
  const testRoot = resolve(root, 'test')
  const seen = new Set<string>()
  const texts: string[] = []
  const visit = (path: string) => {
    if (seen.has(path) || !path.startsWith(testRoot) || !existsSync(path)) return
    seen.add(path)
    const text = readFileSync(path, 'utf8')
    texts.push(text)
    for (const match of text.matchAll(IMPORT)) visit(resolve(dirname(path), match[1]!))
  }
  visit(resolve(root, file))
  const has = (marker: RegExp) => texts.some((text) => marker.test(text))
  return {
    kafka: has(MARKERS.kafka),
    postgresAlways: has(MARKERS.postgresAlways),
    postgresPerKind: has(MARKERS.postgresPerKind),
    chromium: has(MARKERS.chromium),
    promtool: has(MARKERS.promtool),
  }
}
