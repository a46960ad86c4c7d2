import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { adminQuery, POSTGRES_ADMIN_URL } from '../../test/support/postgres-admin.ts'
import { unusedPort } from '../../test/support/sockets.ts'
import { percentile } from '../../test/support/wait.ts'
import { drive, type LoadResult, medianRun } from './load.ts'
import { machineCpu, mainThreadSeconds, processCpuSeconds, spawnServer } from './service.ts'

const exec = promisify(execFile)

/** A limit as the suite compares with it and prints it. */
export interface Limit {
  perSecond: number
  p50: number
  p99: number
  what: string
  /** The connections always waiting for an answer (pgbench's clients, the generator's). */
  clients?: number
  cpuMsPerOp?: Record<string, number>
}
const here = (file: string) => new URL(`../pgbench/${file}`, import.meta.url).pathname

export interface PgbenchResult {
  script: string
  clients: number
  seconds: number
  transactions: number
  perSecond: number
  latencyMs: { p50: number; p99: number }
  /** What a transaction cost the whole machine (every process, pgbench's clients included). */
  machineMsPerOp: number
  /** The part of it in the kernel. */
  machineKernelMsPerOp: number
}

/**
 * The machine's own limit for a transaction shape: pgbench (which ships with PostgreSQL) runs `script` with
 * prepared statements from `clients` connections on a database of its own, and reports transactions per second and
 * latency percentiles from its per-transaction log.
 */
export async function pgbench(
  script: string,
  options: { clients: number; seconds: number },
): Promise<PgbenchResult> {
  const dbName = `bench_pgbench_${process.pid}`
  await adminQuery(`drop database if exists ${dbName} with (force)`)
  await adminQuery(`create database ${dbName}`)
  const url = new URL(POSTGRES_ADMIN_URL)
  const conn = ['-h', url.hostname, '-p', url.port || '5432', '-U', url.username || 'postgres']
  const logDir = await mkdtemp(join(tmpdir(), 'pgbench-'))
  try {
    await exec('psql', [...conn, '-q', '-v', 'ON_ERROR_STOP=1', '-d', dbName, '-f', here('setup.sql')])
    const machineStart = machineCpu()
    const { stdout } = await exec(
      'pgbench',
      [
        ...conn,
        '-n',
        '-M',
        'prepared',
        '-c',
        String(options.clients),
        '-j',
        '2',
        '-T',
        String(options.seconds),
        '-f',
        here(script),
        '-l',
        '--log-prefix',
        join(logDir, 'tx'),
        dbName,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    )
    const machineEnd = machineCpu()
    const machineSeconds = machineEnd.busy - machineStart.busy
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN)
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? 0)
    // Each log line: client id, transaction number, latency in µs, …
    const latencies: number[] = []
    for (const file of readdirSync(logDir)) {
      for (const line of readFileSync(join(logDir, file), 'utf8').split('\n')) {
        const us = Number(line.split(' ')[2])
        if (Number.isFinite(us)) latencies.push(us / 1000)
      }
    }
    latencies.sort((a, b) => a - b)
    return {
      script,
      clients: options.clients,
      seconds: options.seconds,
      transactions,
      perSecond: Math.round(tps),
      latencyMs: {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
      },
      machineMsPerOp: Number(((machineSeconds * 1000) / transactions).toFixed(3)),
      machineKernelMsPerOp: Number(
        (((machineEnd.kernel - machineStart.kernel) * 1000) / transactions).toFixed(3),
      ),
    }
  } finally {
    rmSync(logDir, { recursive: true, force: true })
    await adminQuery(`drop database if exists ${dbName} with (force)`)
  }
}

/** The machine's limit for an HTTP answer: a Fastify hello world in its own process, driven by the same generator. */
export async function helloWorld(options: {
  connections: number
  durationMs: number
  /**
   * Also answer bursts in the shape of the seat race: `count` requests on `connections` new connections, `runs`
   * times; `burst` is the median run. The race's latency has this as its limit, as its first wave opens the
   * connections too.
   */
  burst?: { connections: number; count: number; runs: number }
}): Promise<
  LoadResult & {
    cpuMsPerOp: {
      serviceMsPerOp: number
      generatorMsPerOp: number
      machineMsPerOp: number
      machineKernelMsPerOp: number
      serviceLoopWaitMsPerOp: number
    }
    burst?: LoadResult & { runs: LoadResult[] }
  }
> {
  const port = await unusedPort()
  const child = spawnServer(
    process.execPath,
    [new URL('./hello.ts', import.meta.url).pathname, String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  try {
    await once(child.stdout!, 'data')
    const url = `http://127.0.0.1:${port}`
    await drive(url, {
      connections: options.connections,
      durationMs: 1000,
      request: () => ({ method: 'GET', path: '/' }),
    })
    const serverStart = processCpuSeconds(child.pid!)
    const loopStart = mainThreadSeconds(child.pid!)
    const generatorStart = process.cpuUsage()
    const machineStart = machineCpu()
    const result = await drive(url, {
      connections: options.connections,
      durationMs: options.durationMs,
      request: () => ({ method: 'GET', path: '/' }),
    })
    const generator = process.cpuUsage(generatorStart)
    const machineEnd = machineCpu()
    // The server's too, before the bursts below (it once counted their CPU against the steady run's answers).
    const server = processCpuSeconds(child.pid!) - serverStart
    const loopWait = mainThreadSeconds(child.pid!).waiting - loopStart.waiting
    const msPerOp = (seconds: number) => Number(((seconds * 1000) / result.requests).toFixed(3))
    const bursts: LoadResult[] = []
    for (let n = 0; n < (options.burst?.runs ?? 0); n++)
      bursts.push(
        await drive(url, {
          connections: options.burst!.connections,
          count: options.burst!.count,
          request: () => ({ method: 'GET', path: '/' }),
        }),
      )
    const median = medianRun(bursts)
    return {
      ...result,
      ...(median ? { burst: { ...median, runs: bursts } } : {}),
      // The same CPU per answer the service's paths report, so the two can be compared where throughput is noisy.
      cpuMsPerOp: {
        serviceMsPerOp: msPerOp(server),
        generatorMsPerOp: msPerOp((generator.user + generator.system) / 1e6),
        machineMsPerOp: msPerOp(machineEnd.busy - machineStart.busy),
        machineKernelMsPerOp: msPerOp(machineEnd.kernel - machineStart.kernel),
        serviceLoopWaitMsPerOp: msPerOp(loopWait),
      },
    }
  } finally {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
}
