import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { adminQuery, POSTGRES_ADMIN_URL } from '../../test/support/postgres-admin.ts'
import { processesListeningOn, unusedPort } from '../../test/support/sockets.ts'

export { POSTGRES_ADMIN_URL }

export interface RunningService {
  url: string
  databaseUrl: string
  adminKey: string
  secret: string
  process: ChildProcess
  /** The Kafka brokers it runs on; undefined on the embedded transport. */
  kafkaBrokers: string[] | undefined
  stop(): Promise<void>
}

/**
 * Spawns a server under test (the service, the hello world) in a session of its own, as a server started by systemd,
 * a container or a login shell is, not in the load generator's. Linux's scheduler (with autogroup, on by default)
 * shares a busy CPU between sessions before it shares it between the processes of one, and every PostgreSQL backend
 * is a session of its own: a server in the generator's session shared one share with the generator against each
 * backend's. It is killed when this process ends, since a signal to the terminal no longer reaches it.
 */
export function spawnServer(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true })
  servers.add(child)
  child.once('exit', () => servers.delete(child))
  if (!killOnExit) {
    killOnExit = true
    process.once('exit', killServers)
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => {
        killServers()
        process.exit(signal === 'SIGINT' ? 130 : 143)
      })
  }
  return child
}

const servers = new Set<ChildProcess>()
let killOnExit = false
function killServers(): void {
  for (const child of servers) child.kill('SIGKILL')
}

/**
 * Starts `node src/main.ts` as its own process on a fresh PostgreSQL database (on Kafka under a topic prefix of its
 * own when KAFKA_BROKERS is given); stop() ends it and drops the database and its topics. On local brokers it returns
 * once they are back near the CPU they used before it started (see brokersSettled), saying how long that took.
 */
export async function startService(
  name: string,
  env: Record<string, string> = {},
  say: (line: string) => void = () => {},
): Promise<RunningService> {
  const dbName = `bench_${name.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(4).toString('hex')}`
  await adminQuery(`create database ${dbName}`)
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${dbName}`
  const port = await unusedPort()
  const adminKey = randomBytes(16).toString('hex')
  const secret = randomBytes(32).toString('hex')
  // BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the service (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const brokers = env.KAFKA_BROKERS ? localBrokerPids(env.KAFKA_BROKERS.split(',')) : []
  if (brokers.length > 0) {
    const rate = await brokerCpuRate(brokers)
    if (Number.isFinite(rate)) quietestBrokers = Math.min(quietestBrokers, rate)
  }
  // The transport is the caller's choice: KAFKA_BROKERS from the shell would otherwise put the embedded-transport
  // runs on Kafka too, every service on the same unprefixed topics.
  const { KAFKA_BROKERS: _brokers, KAFKA_TOPIC_PREFIX: _prefix, ...inherited } = process.env
  const child = spawnServer(process.execPath, [...nodeArgs, 'src/main.ts'], {
    env: {
      // The server's autovacuum stands, as in every run on record (off on the development machines, where the start
      // of each service would warn so); the service's own vacuum is PGlite's. `VACUUM=on npm run bench` turns it on.
      VACUUM: 'off',
      ...inherited,
      DATABASE_URL: url.toString(),
      PORT: String(port),
      ADMIN_KEY: adminKey,
      AUTH_SECRET: secret,
      SEED_DEMO: 'false',
      LOG_LEVEL: 'warn',
      ...(env.KAFKA_BROKERS ? { KAFKA_TOPIC_PREFIX: dbName } : {}),
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
  if (brokers.length > 0) {
    const settled = await brokersSettled(brokers, quietestBrokers)
    say(
      `${name}: the brokers settled ${settled.seconds.toFixed(0)} s after the service was ready ` +
        `(${settled.rate.toFixed(2)} CPU s/s; ${quietestBrokers.toFixed(2)} at their quietest before a service started)`,
    )
  }
  return {
    url: base,
    databaseUrl: url.toString(),
    adminKey,
    secret,
    process: child,
    kafkaBrokers: env.KAFKA_BROKERS?.split(','),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await once(child, 'exit')
      }
      await adminQuery(`drop database if exists ${dbName} with (force)`)
      if (env.KAFKA_BROKERS) await deleteTopicsUnder(dbName)
    },
  }
}

/** The brokers' CPU seconds per second over one second. */
async function brokerCpuRate(pids: readonly number[], ms = 1000): Promise<number> {
  const sum = () => pids.reduce((total, pid) => total + processCpuSeconds(pid), 0)
  const before = sum()
  await new Promise((r) => setTimeout(r, ms))
  return (sum() - before) / (ms / 1000)
}

/** The least CPU the local brokers used in a second before a service of this run started. */
let quietestBrokers = Number.POSITIVE_INFINITY

/**
 * A service starting on Kafka makes the brokers create its 75 topics and take in its 29 consumer groups while the
 * last path's topics may still be being deleted: sampled once, about 2 CPU s/s (the whole of this machine) for 8 s,
 * most of it before the service answered /ready, and still 1.5 CPU s/s when a path began. A real sale starts on a
 * cluster long done with that, so a path begins once a second of the brokers' CPU is within 0.3 CPU s/s of the least
 * they used in a second before a service of this run started (an idle service adds about 0.1), or after 60 s.
 */
async function brokersSettled(
  pids: readonly number[],
  quietest: number,
): Promise<{ seconds: number; rate: number }> {
  const started = Date.now()
  for (;;) {
    const rate = await brokerCpuRate(pids)
    // a broker that is gone reads NaN: nothing to wait for
    if (!(rate > quietest + 0.3) || Date.now() - started > 60_000)
      return { seconds: (Date.now() - started) / 1000, rate }
  }
}

/**
 * A run's topics go when it ends (a service run creates 75 under its prefix): left behind, thousands of idle
 * partitions on a development cluster cost its brokers CPU in every later run.
 */
export async function deleteTopicsUnder(prefix: string): Promise<void> {
  const { Admin } = await import('@platformatic/kafka')
  const admin = new Admin({
    clientId: 'bench-cleanup',
    bootstrapBrokers: process.env.KAFKA_BROKERS!.split(','),
  })
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`))
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {})
  } finally {
    await admin.close().catch(() => {})
  }
}

/**
 * Readies a Kafka cluster as a long-running one is: its group-offsets topic (`__consumer_offsets`, 50 partitions)
 * created and loaded, and its brokers' JVMs past their first topics, groups and fetches. The first service on a new
 * cluster otherwise measured the brokers compiling: the Kafka race did 10 % of the hello world there, 33-40 % on the
 * same cluster right after (measured on a purged cluster, the group-offsets topic made first: still 10 %).
 */
export async function prepareKafkaCluster(warmUp: () => Promise<void>): Promise<{ otherTopics: number }> {
  const { Admin, FindCoordinatorKeyTypes } = await import('@platformatic/kafka')
  const admin = new Admin({
    clientId: 'bench-prepare',
    bootstrapBrokers: process.env.KAFKA_BROKERS!.split(','),
  })
  // Enough group names that every one of the 50 partitions holds some (a group's partition is its hash mod 50).
  const keys = Array.from({ length: 500 }, (_, i) => `bench-prepare-${i}`)
  const deadline = Date.now() + 120_000
  let otherTopics = 0
  try {
    for (;;) {
      try {
        await admin.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys })
        break
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error('the Kafka cluster found no group coordinator in 120 s', { cause: error })
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    // Topics already there (another run's, a test's) are served by the brokers during every measurement: 75-150
    // left on the development cluster more than doubled the brokers' CPU per payment (0.55-0.83 ms; 0.24 on the
    // same cluster emptied, 2026-12-02).
    otherTopics = (await admin.listTopics()).length
  } finally {
    await admin.close().catch(() => {})
  }
  // A service's start declares its 75 topics and joins its groups; `warmUp` then sends a sale's events through them,
  // so the brokers' JVMs have compiled their produce, fetch and commit paths, as a long-running cluster's have.
  await warmUp()
  return { otherTopics }
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

/**
 * The seconds a process's main thread (its event loop, for Node) has run so far and has waited, runnable, for a CPU
 * another process held (Linux's schedstat); NaN where /proc does not give them.
 */
export function mainThreadSeconds(pid: number): { running: number; waiting: number } {
  try {
    const [running, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')
      .split(' ')
      .map(Number)
    return { running: running! / 1e9, waiting: waiting! / 1e9 }
  } catch {
    return { running: Number.NaN, waiting: Number.NaN }
  }
}

/**
 * CPU seconds used so far by each PostgreSQL backend serving `database` (their process title names it), so other
 * work on a shared machine does not count; every PostgreSQL process when no database is given.
 */
export function postgresCpuSeconds(database?: string): Map<number, number> {
  const byPid = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue
      if (database && !readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(` ${database} `)) continue
      const seconds = processCpuSeconds(Number(entry))
      if (Number.isFinite(seconds)) byPid.set(Number(entry), seconds)
    } catch {
      // the process ended meanwhile
    }
  }
  return byPid
}

/**
 * The CPU the backends used between two readings, per backend: one that started meanwhile counts from zero; one that
 * ended meanwhile is missing from the end and its share is lost (an undercount), where a difference of totals went
 * negative.
 */
export function postgresCpuBetween(start: Map<number, number>, end: Map<number, number>): number {
  let total = 0
  for (const [pid, seconds] of end) total += Math.max(0, seconds - (start.get(pid) ?? 0))
  return total
}

/**
 * CPU seconds the whole machine has been busy (user, nice, system, interrupts; not idle, I/O wait or time the
 * hypervisor gave to other machines), and the part of them in the kernel (system and interrupts: system calls, the
 * network stack, page faults), from /proc/stat; NaN where it is not available. A machine can price the two very
 * differently: pgbench's transaction is mostly round trips (kernel), the service's batches mostly work on rows (user).
 */
export function machineCpu(): { busy: number; kernel: number } {
  try {
    const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number)
    const kernel = system! + irq! + softirq!
    return { busy: (user! + nice! + kernel) / 100, kernel: kernel / 100 }
  } catch {
    return { busy: Number.NaN, kernel: Number.NaN }
  }
}

export interface MachineFacts {
  /** /proc/cpuinfo's model name, family and model (a virtual machine may show only a vendor's name). */
  cpu: string
  kernel: string
  /** The kernel keeps its page tables apart from user space's (PTI, Meltdown's mitigation). */
  pageTableIsolation: boolean
  /** The CPU tags TLB entries by address space; with PTI but without it, every entry to the kernel empties the TLB. */
  pcid: boolean
}

/**
 * What the machine says it is: the price of its kernel work follows from it. With page-table isolation and no PCID,
 * every system call and every switch between processes empties the TLB, and the user work after it starts cold.
 */
export function machineFacts(): MachineFacts {
  let info = ''
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8').split('\n\n')[0] ?? ''
  } catch {}
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim()
  const flags = new Set((field('flags') ?? '').split(/\s+/))
  const family = field('cpu family')
  const model = field('model')
  return {
    cpu: `${field('model name') ?? cpus()[0]?.model ?? 'unknown'}${family ? ` (family ${family}, model ${model})` : ''}`,
    kernel: release(),
    pageTableIsolation: flags.has('pti'),
    pcid: flags.has('pcid'),
  }
}

/**
 * What one small system call costs this process, in µs of wall time, and the kernel's CPU in it: `calls` reads of
 * `bytes` from /dev/zero, made synchronously one after the other on an otherwise idle event loop. The thirty-fifth
 * machine (PTI without PCID) answered a one-byte read in 1.9 µs, 0.7–0.9 of it in the kernel.
 */
export function systemCallMicros(bytes = 1, calls = 200_000): { wall: number; kernel: number } {
  const fd = openSync('/dev/zero', 'r')
  const buffer = Buffer.alloc(bytes)
  try {
    for (let i = 0; i < 2_000; i++) readSync(fd, buffer, 0, bytes, null)
    const cpuStart = process.cpuUsage()
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) readSync(fd, buffer, 0, bytes, null)
    const wall = Number(process.hrtime.bigint() - start) / 1_000 / calls
    return { wall, kernel: process.cpuUsage(cpuStart).system / calls }
  } finally {
    closeSync(fd)
  }
}

// The WebAssembly global, which the TypeScript libraries this project compiles with (no DOM) do not declare.
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } }

/**
 * What the kernel charges to hand this process memory it has not touched yet, in µs per 4 KB page: `megabytes` of a
 * new WebAssembly memory (committed but never written, so every page is new to the process) written one byte a page,
 * then written again (the least of three times), where no page faults. V8 takes such memory for every 256 KB page
 * its heap grows by, and a young collection that promotes into new pages pays for them inside its pause: on the
 * forty-seventh machine (PTI without PCID, under a hypervisor) a first write cost 11 µs a page, so 5 MB promoted into
 * new pages were 14 ms of faults.
 */
export function pageTouchMicros(megabytes = 32): { firstTouch: number; again: number; faults: number } {
  const memory = new WebAssembly.Memory({ initial: megabytes * 16 })
  const bytes = new Uint8Array(memory.buffer)
  const pages = bytes.length / 4096
  const touch = () => {
    const start = process.hrtime.bigint()
    for (let at = 0; at < bytes.length; at += 4096) bytes[at] = 1
    return Number(process.hrtime.bigint() - start) / 1_000 / pages
  }
  const faultsBefore = process.resourceUsage().minorPageFault
  const firstTouch = touch()
  const faults = process.resourceUsage().minorPageFault - faultsBefore
  return { firstTouch, again: Math.min(touch(), touch(), touch()), faults }
}

/** CPU figures per operation (perOp of a cpuMeter's), without the event loop's wait for a CPU, which is no CPU. */
export const withoutWait = ({ serviceLoopWaitMsPerOp: _wait, ...cpu }: Record<string, number>) => cpu

/**
 * The processes of this machine listening on the loopback ports of `brokers` (host:port): the Kafka brokers when they
 * run here, as the development cluster does; empty when they run elsewhere.
 */
export function localBrokerPids(brokers: readonly string[]): number[] {
  const ports = new Set<number>()
  for (const b of brokers) {
    const at = b.lastIndexOf(':')
    const host = b.slice(0, at).replace(/^\[|\]$/g, '')
    if (['127.0.0.1', 'localhost', '::1'].includes(host)) ports.add(Number(b.slice(at + 1)))
  }
  return ports.size === 0 ? [] : processesListeningOn(ports)
}

/**
 * CPU of the service, of the PostgreSQL backends serving its database (not WAL writing or checkpoints), of this
 * process (the load generator), of the Kafka brokers when the service runs on brokers of this machine, and of the
 * whole machine, between two readings. The machine's figure holds everything else that ran meanwhile (WAL writer,
 * checkpointer, idle brokers, the system): what an operation cost the machine, comparable with a limit's;
 * `machineKernel` is the part of it in the kernel. Not CPU:
 * `serviceLoopWait`, the seconds the service's event loop was ready to run but waited for a CPU held by another
 * process, which every request in flight waited with it.
 */
export function cpuMeter(service: RunningService) {
  return processesCpuMeter({
    servicePid: service.process.pid!,
    database: new URL(service.databaseUrl).pathname.slice(1),
    brokers: service.kafkaBrokers ? localBrokerPids(service.kafkaBrokers) : [],
  })
}

/**
 * cpuMeter's readings for processes named directly: without `servicePid` (a path that runs what it measures in this
 * process, as the events path does), no service figures and all of this process's CPU under `generator`.
 */
export function processesCpuMeter(o: { servicePid?: number; database: string; brokers: readonly number[] }) {
  const at = () => ({
    service: o.servicePid === undefined ? 0 : processCpuSeconds(o.servicePid),
    loop: o.servicePid === undefined ? { running: 0, waiting: 0 } : mainThreadSeconds(o.servicePid),
    postgres: postgresCpuSeconds(o.database),
    generator: process.cpuUsage(),
    brokers: o.brokers.map(processCpuSeconds),
    machine: machineCpu(),
  })
  const start = at()
  return () => {
    const end = at()
    const gen = process.cpuUsage(start.generator)
    const brokerSeconds = end.brokers.reduce((sum, s, i) => sum + Math.max(0, s - start.brokers[i]!), 0)
    return {
      ...(o.servicePid === undefined ? {} : { service: Number((end.service - start.service).toFixed(2)) }),
      postgres: Number(postgresCpuBetween(start.postgres, end.postgres).toFixed(2)),
      generator: Number(((gen.user + gen.system) / 1e6).toFixed(2)),
      ...(o.brokers.length > 0 ? { brokers: Number(brokerSeconds.toFixed(2)) } : {}),
      machine: Number((end.machine.busy - start.machine.busy).toFixed(2)),
      machineKernel: Number((end.machine.kernel - start.machine.kernel).toFixed(2)),
      ...(o.servicePid === undefined
        ? {}
        : { serviceLoopWait: Number((end.loop.waiting - start.loop.waiting).toFixed(3)) }),
    }
  }
}

/** CPU ms per operation (`serviceMsPerOp`, …) from a meter's seconds. */
export function perOp(cpu: Record<string, number>, ops: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(cpu)) out[`${k}MsPerOp`] = Number(((v * 1000) / ops).toFixed(3))
  return out
}
