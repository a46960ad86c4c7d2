// Readiness probe for kafka.sh, asking the cluster what any client sees: a Metadata request through @platformatic/kafka.
// (Its Admin.metadata() leaves internal topics out, and a restarted node must be back in the ISR of __consumer_offsets
// too, so the probe sends the request itself on the library's Connection.)
//
//   probe.ts cluster <timeoutMs> <id@host:port@pid>...
//     every node answers, lists every node given as a live broker, and every partition it knows has a live leader
//   probe.ts node <timeoutMs> <isrWait:true|false> <id@host:port@pid>
//     that node answers and is a live broker; with isrWait, it is back in the ISR of every partition it replicates
//
// A pid of 0 or a pid that died means that node is gone: the probe stops at once instead of waiting for the timeout.
// KAFKA_PROBE_CLUSTER_ID (kafka.sh passes the id it formatted the nodes with): a node answering for another cluster
// is another cluster's broker on our port (two state dirs on one port base), and the probe says so at once.
// Progress stays quiet; the last stdout line is the verdict kafka.sh reads:
//   RESULT ok (exit 0) | RESULT timeout <ids> (2) | RESULT dead <ids> (3) | RESULT isr-timeout <n> (4)
//   | RESULT foreign <ids> (5)
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Connection, metadataV12 } from '@platformatic/kafka'

interface NodeSpec {
  id: number
  host: string
  port: number
  pid: number
}

const ROUND_PAUSE_MS = 300

function parseSpec(text: string): NodeSpec {
  const match = /^(\d+)@(.+):(\d+)@(\d+)$/.exec(text)
  if (!match) throw new Error(`bad node spec "${text}" (want id@host:port@pid)`)
  return { id: Number(match[1]), host: match[2]!, port: Number(match[3]), pid: Number(match[4]) }
}

/** True while the process runs (a zombie, dead but not yet reaped by kafka.sh, counts as gone). */
function alive(pid: number): boolean {
  if (pid <= 0) return false
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

function rootMessage(error: unknown): string {
  let e = error as { message?: string; errors?: unknown[]; cause?: unknown } | undefined
  for (let i = 0; i < 10 && e; i++) {
    const next = e.errors?.at(-1) ?? e.cause
    if (!next) break
    e = next as typeof e
  }
  return e?.message ?? String(error)
}

interface Metadata {
  clusterId: string | null | undefined
  /** The live brokers (registered and not fenced). */
  brokers: Set<number>
  partitions: { name: string; leader: number; replicas: number[]; isr: number[] }[]
}

/** What the given node alone knows: live brokers and, withTopics, every partition (internal topics included). */
async function metadataFrom(node: NodeSpec, withTopics: boolean): Promise<Metadata> {
  const connection = new Connection('kafka-dev-probe', { connectTimeout: 1000, requestTimeout: 3000 })
  try {
    await connection.connect(node.host, node.port)
    const response = await metadataV12.api
      .async(connection, withTopics ? null : [], false, false)
      .catch(usePartial)
    return {
      clusterId: response.clusterId,
      brokers: new Set(response.brokers.map((b) => b.nodeId)),
      partitions: response.topics.flatMap((t) =>
        t.partitions.map((p) => ({
          name: `${t.name}-${p.partitionIndex}`,
          leader: p.leaderId,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
        })),
      ),
    }
  } finally {
    await Promise.race([connection.close().catch(() => {}), sleep(500)])
  }
}

/**
 * A partition without a leader, or a topic being created or deleted, comes with an error code; the library then
 * rejects with the parsed response attached, which still says what the probe asks (as Java's describeTopics would).
 */
function usePartial(error: unknown): metadataV12.MetadataResponse {
  const response = (error as { response?: metadataV12.MetadataResponse }).response
  if (!response?.brokers) throw error
  return response
}

const OUR_CLUSTER = process.env.KAFKA_PROBE_CLUSTER_ID || undefined

/** Why a node's answer is another cluster's, or undefined when it is ours (or no id was given to compare). */
function foreign(n: NodeSpec, metadata: Metadata): string | undefined {
  if (!OUR_CLUSTER || metadata.clusterId === OUR_CLUSTER) return undefined
  return (
    `${n.host}:${n.port} answers for cluster ${metadata.clusterId}, not this state dir's ${OUR_CLUSTER}: ` +
    'another cluster on this machine uses these ports (another npm test or kafka.sh in another checkout?)'
  )
}

/** The partitions without a live leader. */
const leaderless = (m: Metadata) => m.partitions.filter((p) => !m.brokers.has(p.leader)).map((p) => p.name)

async function cluster(deadline: number, nodes: NodeSpec[]): Promise<number> {
  const expected = nodes.map((n) => n.id)
  const pending = new Set(expected)
  const foreignNodes = new Map<number, string>()
  let lastError = ''
  for (;;) {
    const dead = nodes.filter((n) => !alive(n.pid)).map((n) => n.id)
    if (dead.length > 0) return verdict(3, `dead ${dead.join(' ')}`)
    await Promise.all(
      nodes
        .filter((n) => pending.has(n.id))
        .map(async (n) => {
          try {
            const metadata = await metadataFrom(n, true)
            const other = foreign(n, metadata)
            if (other) {
              foreignNodes.set(n.id, other)
              return
            }
            const missing = expected.filter((id) => !metadata.brokers.has(id))
            const noLeader = leaderless(metadata)
            if (missing.length > 0)
              lastError = `node ${n.id} sees live brokers [${[...metadata.brokers]}], want [${expected}]`
            else if (noLeader.length > 0)
              lastError = `node ${n.id}: ${noLeader.length} partition(s) without a leader: ${noLeader.slice(0, 10)}`
            else pending.delete(n.id)
          } catch (error) {
            lastError = `node ${n.id}: ${rootMessage(error)}`
          }
        }),
    )
    if (foreignNodes.size > 0)
      return verdict(5, `foreign ${[...foreignNodes.keys()].join(' ')}`, [...foreignNodes.values()][0])
    if (pending.size === 0) return verdict(0, 'ok')
    if (Date.now() > deadline) return verdict(2, `timeout ${[...pending].join(' ')}`, lastError)
    await sleep(ROUND_PAUSE_MS)
  }
}

async function node(deadline: number, isrWait: boolean, n: NodeSpec): Promise<number> {
  let lastError = ''
  let lagging: string[] = []
  let serving = false
  for (;;) {
    if (!alive(n.pid)) return verdict(3, `dead ${n.id}`)
    try {
      const metadata = await metadataFrom(n, serving && isrWait)
      const other = foreign(n, metadata)
      if (other) return verdict(5, `foreign ${n.id}`, other)
      if (!metadata.brokers.has(n.id)) {
        lastError = `node ${n.id} not yet a live broker (live: [${[...metadata.brokers]}])`
      } else if (!isrWait) {
        return verdict(0, 'ok')
      } else if (serving) {
        lagging = metadata.partitions
          .filter((p) => p.replicas.includes(n.id) && !p.isr.includes(n.id))
          .map((p) => p.name)
        if (lagging.length === 0) return verdict(0, 'ok')
      } else {
        serving = true
        continue // ask again at once, now for every topic
      }
    } catch (error) {
      lastError = `node ${n.id}: ${rootMessage(error)}`
    }
    if (Date.now() > deadline) {
      if (!serving) return verdict(2, `timeout ${n.id}`, lastError)
      return verdict(
        4,
        `isr-timeout ${lagging.length}`,
        `node ${n.id} serves but is not back in the ISR of ${lagging.length} partition(s): ` +
          `${lagging.slice(0, 10).join(', ')} ${lastError}`,
      )
    }
    await sleep(ROUND_PAUSE_MS)
  }
}

function verdict(code: number, result: string, detail?: string): number {
  if (detail) process.stdout.write(`last error: ${detail}\n`)
  process.stdout.write(`RESULT ${result}\n`)
  return code
}

async function main(argv: string[]): Promise<number> {
  const [mode, timeoutMs, ...rest] = argv
  const deadline = Date.now() + Number(timeoutMs)
  if (mode === 'cluster' && rest.length > 0) return cluster(deadline, rest.map(parseSpec))
  if (mode === 'node' && rest.length === 2) return node(deadline, rest[0] === 'true', parseSpec(rest[1]!))
  process.stderr.write('usage: probe.ts cluster <timeoutMs> <id@host:port@pid>...\n')
  process.stderr.write('       probe.ts node <timeoutMs> <true|false> <id@host:port@pid>\n')
  return 64
}

// Exit explicitly: a client socket still closing must not hold kafka.sh up.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`probe failed: ${error instanceof Error ? error.stack : error}\n`)
    process.exit(1)
  },
)
