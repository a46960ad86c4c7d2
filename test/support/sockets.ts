import { once } from 'node:events'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer } from 'node:net'

// TCP states in /proc/net/tcp (include/net/tcp_states.h).
const TCP_STATES = [
  '',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
]

export interface TcpConnection {
  /** The remote end, `address:port` (IPv4, or IPv6 as the kernel's hex). */
  remote: string
  remotePort: number
  state: string
}

/** The inodes of the sockets a process holds open, from /proc/<pid>/fd. */
function socketInodesOf(pid: number | 'self'): Set<string> {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1))
    } catch {
      // closed between the listing and the read
    }
  }
  return inodes
}

interface TcpRow {
  localPort: number
  /** The remote address as the kernel writes it (hex). */
  remoteHex: string
  remotePort: number
  state: string
  inode: string
}

/** The TCP sockets of a process's network namespace, from /proc/<pid>/net/tcp and tcp6. */
function tcpRows(pid: number | 'self'): TcpRow[] {
  const rows: TcpRow[] = []
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10) continue
      const [remoteHex, remotePort] = fields[2]!.split(':') as [string, string]
      rows.push({
        localPort: Number.parseInt(fields[1]!.split(':')[1]!, 16),
        remoteHex,
        remotePort: Number.parseInt(remotePort, 16),
        state: TCP_STATES[Number.parseInt(fields[3]!, 16)] ?? fields[3]!,
        inode: fields[9]!,
      })
    }
  }
  return rows
}

/** A process's TCP connections (listening sockets left out), read from /proc: Linux only. */
export function tcpConnectionsOf(pid: number | 'self' = 'self'): TcpConnection[] {
  const inodes = socketInodesOf(pid)
  return tcpRows(pid)
    .filter((r) => inodes.has(r.inode) && r.state !== 'LISTEN')
    .map((r) => ({
      remote: `${ipv4(r.remoteHex) ?? r.remoteHex}:${r.remotePort}`,
      remotePort: r.remotePort,
      state: r.state,
    }))
}

/** How many listening sockets this network namespace has on `port` (several when they share it), read from /proc. */
export function listenersOn(port: number): number {
  return tcpRows('self').filter((r) => r.state === 'LISTEN' && r.localPort === port).length
}

/** The processes listening on any of these TCP ports (in this process's network namespace), read from /proc. */
export function processesListeningOn(ports: ReadonlySet<number>): number[] {
  const listening = new Set(
    tcpRows('self')
      .filter((r) => r.state === 'LISTEN' && ports.has(r.localPort))
      .map((r) => r.inode),
  )
  if (listening.size === 0) return []
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      for (const inode of socketInodesOf(Number(entry))) {
        if (listening.has(inode)) {
          pids.push(Number(entry))
          break
        }
      }
    } catch {
      // not ours to read, or ended meanwhile
    }
  }
  return pids
}

/** This process's open connections to any of these `host:port` addresses, matched by port (the test cluster's
 * brokers all listen on loopback), e.g. `127.0.0.1:19093 ESTABLISHED`. */
export function connectionsTo(addresses: readonly string[]): string[] {
  const ports = new Map(addresses.map((a) => [Number(a.slice(a.lastIndexOf(':') + 1)), a]))
  return tcpConnectionsOf()
    .filter((c) => ports.has(c.remotePort))
    .map((c) => `${ports.get(c.remotePort)} ${c.state}`)
}

/** /proc/net/tcp writes an IPv4 address as one little-endian hex word. */
function ipv4(hex: string): string | undefined {
  if (hex.length !== 8) return undefined
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.')
}

/** A loopback port nobody listens on (bound, then released): connections to it are refused until someone does. */
export async function unusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}
