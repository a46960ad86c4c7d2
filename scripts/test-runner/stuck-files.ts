// What the runner does with a test file whose process outlives its tests: find it, ask it what keeps it alive (a
// Node.js diagnostic report, requested by signal), then end it. Linux: processes are found through /proc.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { tcpConnectionsOf } from '../../test/support/sockets.ts'

const REPORT_SIGNAL = 'SIGUSR2'

/**
 * The flags that let a file's process write a diagnostic report when asked (`node --report-on-signal`), into
 * `reportDir`, emptied here.
 */
export function reportFlags(reportDir: string): string[] {
  rmSync(reportDir, { recursive: true, force: true })
  mkdirSync(reportDir, { recursive: true })
  // Without the environment: the report stays on disk, and the environment may hold secrets.
  return [
    '--report-on-signal',
    `--report-signal=${REPORT_SIGNAL}`,
    `--report-directory=${reportDir}`,
    '--report-exclude-env',
  ]
}

/** The processes node:test runs these files in: children of this process whose command line names one. */
export function fileProcesses(files: readonly string[]): { pid: number; file: string }[] {
  const found: { pid: number; file: string }[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid ...: the command name may hold spaces and parentheses, so read after its last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== process.pid) continue
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      const file = files.find((f) => args.includes(f))
      if (file) found.push({ pid: Number(entry), file })
    } catch {
      // exited meanwhile
    }
  }
  return found
}

/** What a file's failure says when its process was ended after `idleLimitMs` without a test event. */
export const endedForSilence = (idleLimitMs: number, alive: string): string =>
  `no test event for ${idleLimitMs / 1000} s, so its process was ended; what kept it alive: ${alive}`

interface ReportHandle {
  type: string
  is_active?: boolean
  is_referenced?: boolean
  firesInMsFromNow?: number
  remoteEndpoint?: { host?: string; ip4?: string; ip6?: string; port?: number }
  localEndpoint?: { port?: number }
  pid?: number
  filename?: string
}

/**
 * What keeps a process alive: the handles its event loop still counts (connections with their far end, timers,
 * child processes, servers), from the diagnostic report it writes on REPORT_SIGNAL; its TCP connections from /proc
 * when no report comes (a process busy in a loop cannot write one).
 */
export async function whatKeepsAlive(pid: number, reportDir: string): Promise<string> {
  try {
    process.kill(pid, REPORT_SIGNAL)
  } catch {
    return 'nothing (it exited)'
  }
  for (let waited = 0; waited < 3_000; waited += 100) {
    await sleep(100)
    const name = readdirSync(reportDir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.json'))
    if (!name) continue
    try {
      const report = JSON.parse(readFileSync(join(reportDir, name), 'utf8')) as {
        libuv: ReportHandle[]
        javascriptStack?: { stack?: string[] }
      }
      const alive = report.libuv.filter((h) => h.is_active && h.is_referenced && h.type !== 'loop')
      const handles =
        alive.length > 0 ? alive.map(describeHandle).join(', ') : 'no handle (a test ignored its timeout?)'
      // A process busy in a loop reports where its JavaScript was; an idle one has no stack.
      const frames = (report.javascriptStack?.stack ?? []).filter((f) => f.startsWith('at ')).slice(0, 4)
      return frames.length > 0 ? `${handles}; its JavaScript was busy ${frames.join(' ')}` : handles
    } catch {
      // still being written
    }
  }
  try {
    const tcp = tcpConnectionsOf(pid).map((c) => `tcp to ${c.remote} (${c.state})`)
    return `no report came; ${tcp.length > 0 ? tcp.join(', ') : 'no TCP connection'}`
  } catch (error) {
    return `no report came, and /proc was unreadable (${(error as Error).message})`
  }
}

function describeHandle(h: ReportHandle): string {
  const remote = h.remoteEndpoint
  if (h.type === 'tcp' && remote?.port)
    return `tcp to ${remote.ip4 ?? remote.ip6 ?? remote.host}:${remote.port}`
  if (h.type === 'tcp' && h.localEndpoint?.port) return `tcp server on port ${h.localEndpoint.port}`
  // Node keeps every JavaScript timer on one libuv timer: it says when the next one is due.
  if (h.type === 'timer') return `timer (next due in ${h.firesInMsFromNow} ms)`
  if (h.type === 'process') return `child process ${h.pid}`
  if (h.filename) return `${h.type} ${h.filename}`
  return h.type
}
