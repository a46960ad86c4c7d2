import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

/**
 * The 3-broker cluster `npm test` starts when KAFKA_BROKERS is not given: scripts/kafka/kafka.sh with a state dir of
 * its own (.kafka/test) and the first free port base of PORT_BASES, so it never meets a developer's cluster (default
 * base 19091, state in .kafka). Jars are shared with that cluster through .kafka/lib. The bases stay below Linux's
 * ephemeral ports (32768 up), where a client dialing a stopped broker can end up connected to itself.
 */
export const PORT_BASES = Array.from({ length: 9 }, (_, i) => 24091 + 10 * i)

export interface TestCluster {
  /** KAFKA_BROKERS for the tests. */
  readonly brokers: string
  readonly portBase: number
  /** Environment under which kafka.sh (and the tests calling it) address this cluster. */
  readonly env: Record<string, string>
  readonly stateDir: string
  /** Stops every node; keepData leaves logs and data for a look after a failure. */
  stop(keepData: boolean): Promise<void>
}

type Log = (line: string) => void

export async function startTestCluster(root: string, signal: AbortSignal, log: Log): Promise<TestCluster> {
  const stateDir = join(root, '.kafka', 'test')
  const script = join(root, 'scripts', 'kafka', 'kafka.sh')
  mkdirSync(stateDir, { recursive: true })
  const ownerFile = join(stateDir, 'owner.pid')
  const owner = Number(existsSync(ownerFile) ? readFileSync(ownerFile, 'utf8') : 0)
  if (owner && owner !== process.pid && isRunner(owner))
    throw new Error(
      `another npm test of this checkout (pid ${owner}) runs its Kafka cluster in .kafka/test: wait for it, or set KAFKA_BROKERS`,
    )
  writeFileSync(ownerFile, String(process.pid))

  const baseEnv = { KAFKA_STATE_DIR: stateDir, KAFKA_LIB_DIR: join(root, '.kafka', 'lib') }
  // A run killed before it could stop its cluster leaves it here: stop it and start afresh.
  await kafkaSh(script, ['down', '--purge'], baseEnv, log)
  const portBase = await freePortBase()
  const env = { ...baseEnv, KAFKA_PORT_BASE: String(portBase) }
  // Should this process die without stopping the cluster (SIGKILL), the watchdog stops it.
  const watchdog = spawn(
    'bash',
    [
      '-c',
      'while kill -0 "$0" 2>/dev/null; do sleep 2; done; exec bash "$1" down --purge',
      String(process.pid),
      script,
    ],
    { detached: true, stdio: 'ignore', env: { ...process.env, ...env } },
  )
  watchdog.unref()
  const stop = async (keepData: boolean) => {
    if (watchdog.exitCode === null && watchdog.pid) process.kill(watchdog.pid, 'SIGKILL')
    await kafkaSh(script, keepData ? ['down'] : ['down', '--purge'], env, log)
    rmSync(ownerFile, { force: true })
  }
  try {
    const out = await kafkaSh(script, ['up', '--brokers', '3'], env, log, signal)
    const brokers = /^KAFKA_BROKERS=(.+)$/m.exec(out)?.[1]
    if (!brokers) throw new Error('kafka.sh up printed no KAFKA_BROKERS line')
    return { brokers, portBase, env, stateDir, stop }
  } catch (error) {
    await stop(!signal.aborted) // a cluster that failed to start keeps its logs
    throw error
  }
}

/** The first base whose six ports (brokers base+1..3, controllers base+101..103) nobody listens on. */
async function freePortBase(): Promise<number> {
  for (const base of PORT_BASES) {
    const ports = [1, 2, 3].flatMap((n) => [base + n, base + 100 + n])
    if ((await Promise.all(ports.map(canListen))).every(Boolean)) return base
  }
  throw new Error(`no free port base among ${PORT_BASES.join(', ')} for the test cluster`)
}

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer()
    server.once('error', () => done(false))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => done(true)))
  })
}

/** True when pid is a live `scripts/test.ts` process (another run of this runner). */
function isRunner(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('scripts/test.ts')
  } catch {
    return false
  }
}

/**
 * Runs kafka.sh in a process group of its own, so a Ctrl-C meant for the tests does not cut a `down` short; on abort
 * the whole group (kafka.sh, its probe, a storage formatter) is stopped. Resolves with stdout, logs stderr lines.
 */
function kafkaSh(
  script: string,
  args: string[],
  env: Record<string, string>,
  log: Log,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk
    })
    createInterface({ input: child.stderr }).on('line', log)
    const onAbort = () => {
      if (child.pid) process.kill(-child.pid, 'SIGTERM')
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    child.once('error', reject)
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort)
      if (code === 0) resolve(out)
      else reject(new Error(`kafka.sh ${args.join(' ')} failed (${sig ?? `exit ${code}`})`))
    })
  })
}
