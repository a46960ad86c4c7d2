import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { adminQuery, POSTGRES_ADMIN_URL } from '../../test/support/databases.ts'

export { POSTGRES_ADMIN_URL }

export interface RunningService {
  url: string
  databaseUrl: string
  adminKey: string
  secret: string
  process: ChildProcess
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  server.close()
  return port
}

/** Starts `node src/main.ts` as its own process on a fresh PostgreSQL database; stop() kills it and drops the database. */
export async function startService(name: string, env: Record<string, string> = {}): Promise<RunningService> {
  const dbName = `bench_${name}_${randomBytes(4).toString('hex')}`
  await adminQuery(`create database ${dbName}`)
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${dbName}`
  const port = await freePort()
  const adminKey = randomBytes(16).toString('hex')
  const secret = randomBytes(32).toString('hex')
  const child = spawn(process.execPath, ['src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: url.toString(),
      PORT: String(port),
      ADMIN_KEY: adminKey,
      AUTH_SECRET: secret,
      SEED_DEMO: 'false',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`)
    try {
      const res = await fetch(`${base}/ready`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 60_000) throw new Error('service did not become ready in 60 s')
    await new Promise((r) => setTimeout(r, 200))
  }
  return {
    url: base,
    databaseUrl: url.toString(),
    adminKey,
    secret,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await once(child, 'exit')
      }
      await adminQuery(`drop database if exists ${dbName} with (force)`)
    },
  }
}

/** CPU seconds used so far by a process (user + system), from /proc; NaN where /proc is not available. */
export function processCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** CPU seconds used so far by every PostgreSQL server process on this machine. */
export function postgresCpuSeconds(): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres')
        total += processCpuSeconds(Number(entry))
    } catch {
      // the process ended meanwhile
    }
  }
  return total
}
