import { existsSync, readdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import pg from 'pg'

/** The same server the tests use (test/support/databases.ts). */
export const POSTGRES_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Undefined when the server answers `select 1`; else one line saying what is wrong and how to fix it. */
export async function postgresProblem(): Promise<string | undefined> {
  const url = new URL(POSTGRES_URL)
  const where = `${url.hostname}:${url.port || 5432}`
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('select 1')
    return undefined
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || /timeout/i.test(e.message))
      return `PostgreSQL is not reachable at ${where} (${startHint()}; or run TEST_DATABASES=pglite npm test)`
    return `PostgreSQL at ${where} refused the tests: ${e.message} (they connect as ${url.username || 'postgres'} without a password; TEST_PG_URL overrides)`
  } finally {
    await client.end().catch(() => {})
  }
}

function startHint(): string {
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : []
  if (versions.length > 0) return `start it, e.g. pg_ctlcluster ${versions.sort().at(-1)} main start`
  return 'install and start it, e.g. apt-get install postgresql'
}

/** Undefined when the Kafka cluster script can run here; else one line naming what is missing. */
export function kafkaToolsProblem(): string | undefined {
  const missing = [
    ['java', process.env.JAVA ?? 'java', 'Java 17+'],
    ['mvn', process.env.MVN ?? 'mvn', 'Maven, to fetch the Kafka jars once'],
  ].filter(([, command]) => !onPath(command!))
  if (missing.length === 0) return undefined
  return (
    `The Kafka suites need a 3-broker cluster, and starting one needs ${missing.map(([name, , what]) => `${name} (${what})`).join(' and ')}: ` +
    'not found (install them, e.g. apt-get install openjdk-17-jre-headless maven; or point KAFKA_BROKERS at a running ' +
    'cluster; or run TEST_TRANSPORTS=local npm test)'
  )
}

export function chromiumProblem(files: string[]): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  return (
    `Chromium is not at ${CHROMIUM}, and ${files.join(', ')} drive${files.length === 1 ? 's' : ''} it ` +
    '(install it, e.g. apt-get install chromium; or set CHROMIUM_PATH; or leave those files out: npm test -- test/unit test/api ...)'
  )
}

export function promtoolProblem(files: string[]): string | undefined {
  const missing = [process.env.PROMTOOL ?? 'promtool', process.env.PROMETHEUS ?? 'prometheus'].filter(
    (c) => !onPath(c),
  )
  if (missing.length === 0) return undefined
  return (
    `${missing.join(' and ')} (Prometheus' rule checker and server) not on the PATH, and ${files.join(', ')} run${files.length === 1 ? 's' : ''} them ` +
    "(install Debian's prometheus package, which has both: apt-get install --no-install-recommends prometheus; or set PROMTOOL and PROMETHEUS)"
  )
}

/** Whether `command` runs here: a path that exists, or a name found on the PATH. */
export function onPath(command: string): boolean {
  if (command.includes('/')) return existsSync(command)
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)))
}
