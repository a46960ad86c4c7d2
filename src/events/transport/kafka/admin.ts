import { setTimeout as sleep } from 'node:timers/promises'
import { type Admin, ListOffsetTimestamps } from '@platformatic/kafka'
import { answeredWithin } from '../../../platform/deadline.ts'
import type { Logger } from '../../../platform/logger.ts'
import { reportDeclaredPartitions } from '../declared-partitions.ts'
import type { LagEntry, LagUnknown, PartialLag, PartitionBounds, TopicSpec } from '../port.ts'

/** Creates missing topics with their settings (one CreateTopics call per settings), then waits for their leaders. */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], log: Logger): Promise<void> {
  if (specs.length === 0) return
  const existing = new Set(await admin.listTopics())
  // One CreateTopics call per settings: the request carries one config list for all its topics.
  const bySettings = new Map<string, TopicSpec[]>()
  for (const spec of specs) {
    if (existing.has(spec.name)) continue
    const id = `${spec.partitions}/${spec.replicationFactor}/${spec.minInsyncReplicas}/${spec.retentionMs}`
    bySettings.set(id, [...(bySettings.get(id) ?? []), spec])
  }
  for (const group of bySettings.values()) {
    const first = group[0]!
    try {
      await admin.createTopics({
        topics: group.map((s) => s.name),
        partitions: first.partitions,
        replicas: first.replicationFactor,
        configs: [
          { name: 'min.insync.replicas', value: String(first.minInsyncReplicas) },
          { name: 'retention.ms', value: String(first.retentionMs) },
        ],
      })
      log.info({ topics: group.map((s) => s.name) }, 'created topics')
    } catch (error) {
      if (!leafErrors(error).every((e) => e.apiId === 'TOPIC_ALREADY_EXISTS')) throw error
    }
  }
  await waitForLeaders(admin, specs, log)
}

/** Committed offset, log end and lag per group and partition; throws unless every part was read. */
export async function consumerLag(
  admin: Admin,
  groups: readonly { group: string; topics: readonly string[] }[],
  partMs: number,
): Promise<LagEntry[]> {
  const read = await consumerLagAsFarAsKnown(admin, groups, partMs)
  if (read.unknown.length > 0) throw new Error(read.reason)
  return read.entries
}

/**
 * The same reading, asked in parts that fail alone: the log ends of each leader's partitions in one request to that
 * leader (given `partMs`), the groups' committed offsets of their coordinators (all at once, then each group alone,
 * given half of it each time). A broker that died leads partitions and coordinates groups until the cluster notices
 * (about ten seconds); meanwhile those parts are unknown and the rest is read.
 */
export async function consumerLagAsFarAsKnown(
  admin: Admin,
  groups: readonly { group: string; topics: readonly string[] }[],
  partMs: number,
): Promise<PartialLag> {
  const wanted = groups.filter((g) => g.topics.length > 0)
  if (wanted.length === 0) return { entries: [], unknown: [] }
  const topics = [...new Set(wanted.flatMap((g) => g.topics))]
  const { metadata, partitionsOf, offsetsAt } = await partitionsOfTopics(admin, topics)
  const failures: string[] = []

  const committed = new Map<string, bigint>()
  const answered = new Set<string>()
  const groupOffsets = async (of: typeof wanted) => {
    const offsets = await admin.listConsumerGroupOffsets({
      groups: of.map((g) => ({
        groupId: g.group,
        topics: g.topics.map((name) => ({ name, partitionIndexes: partitionsOf(name) })),
      })),
    })
    for (const o of offsets)
      for (const t of o.topics)
        for (const p of t.partitions)
          committed.set(`${o.groupId}\u0000${t.name}:${p.partitionIndex}`, p.committedOffset)
    for (const g of of) answered.add(g.group)
  }

  const byLeader = new Map<number, Map<string, number[]>>()
  let leaderless = 0
  for (const topic of topics)
    for (const partition of partitionsOf(topic)) {
      const leader = metadata.topics.get(topic)?.partitions[partition]?.leader ?? -1
      if (leader < 0) {
        leaderless++
        continue
      }
      const ofLeader = byLeader.get(leader) ?? new Map<string, number[]>()
      ofLeader.set(topic, [...(ofLeader.get(topic) ?? []), partition])
      byLeader.set(leader, ofLeader)
    }
  const ends = new Map<string, bigint>()
  await Promise.all([
    ...[...byLeader].map(([leader, ofLeader]) =>
      answeredWithin(
        offsetsAt(ListOffsetTimestamps.LATEST, ofLeader),
        partMs,
        `no answer within ${partMs} ms`,
      ).then(
        (offsets) => {
          for (const [key, offset] of offsets) ends.set(key, offset)
        },
        (error: Error) => failures.push(`the log ends on broker ${leader}: ${error.message}`),
      ),
    ),
    // Every group's committed offsets in one call (the client asks each coordinator once); when a coordinator does
    // not answer within half the time, each group alone, so that the others' still count.
    (async () => {
      try {
        await answeredWithin(groupOffsets(wanted), partMs / 2, 'no answer')
      } catch {
        // Said once for all the groups that failed alike (one coordinator gone), not once a group.
        const alike = new Map<string, number>()
        await Promise.all(
          wanted.map((g) =>
            answeredWithin(groupOffsets([g]), partMs / 2, `no answer within ${partMs / 2} ms`).catch(
              (error: Error) => alike.set(error.message, (alike.get(error.message) ?? 0) + 1),
            ),
          ),
        )
        for (const [message, n] of alike)
          failures.push(`the committed offsets of ${n} of ${wanted.length} groups: ${message}`)
      }
    })(),
  ])
  const entries: LagEntry[] = []
  const unknown: LagUnknown[] = []
  for (const g of wanted) {
    for (const topic of g.topics) {
      for (const partition of partitionsOf(topic)) {
        const end = ends.get(`${topic}:${partition}`)
        if (end === undefined || !answered.has(g.group)) {
          unknown.push({ group: g.group, topic, partition })
          continue
        }
        // A group that never committed on the partition has all of it to read.
        const raw = committed.get(`${g.group}\u0000${topic}:${partition}`) ?? -1n
        const at = raw < 0n ? 0n : raw
        entries.push({ group: g.group, topic, partition, committed: at, end, lag: end > at ? end - at : 0n })
      }
    }
  }
  if (leaderless > 0) failures.push(`${leaderless} partitions without a leader`)
  if (unknown.length === 0) return { entries, unknown }
  const of = entries.length + unknown.length
  return {
    entries,
    unknown,
    reason: `${unknown.length} of ${of} group partitions not read (${failures.join('; ')})`,
  }
}

/** Waits until every topic has its partitions with an elected leader, so the first publish does not fail. */
async function waitForLeaders(admin: Admin, specs: readonly TopicSpec[], log: Logger): Promise<void> {
  const names = specs.map((s) => s.name)
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      const metadata = await admin.metadata({ topics: names, forceUpdate: true })
      const pending = specs.filter((spec) => {
        const topic = metadata.topics.get(spec.name)
        return !topic || topic.partitions.some((p) => p === undefined || p.leader < 0)
      })
      if (pending.length === 0) {
        // Kafka cannot take partitions away, nor adds them: a topic keeps those it was created with.
        reportDeclaredPartitions(specs, (name) => metadata.topics.get(name)?.partitionsCount ?? 0, log)
        return
      }
      if (Date.now() > deadline) throw new Error(`No leader yet for ${pending.map((s) => s.name).join(', ')}`)
    } catch (error) {
      if (Date.now() > deadline) throw error
    }
    await sleep(200)
  }
}

export function leafErrors(error: unknown): { apiId?: string }[] {
  const nested = (error as { errors?: unknown[] } | null)?.errors
  if (Array.isArray(nested) && nested.length > 0) return nested.flatMap(leafErrors)
  return [(error ?? {}) as { apiId?: string }]
}

/**
 * The partitions of these topics (from the client's metadata cache, which `metadata` is) and their offsets at a time,
 * by `topic:partition`: of every partition, or of `only` (partitions by topic).
 */
async function partitionsOfTopics(admin: Admin, topics: readonly string[]) {
  const metadata = await admin.metadata({ topics: [...topics] })
  const partitionsOf = (topic: string) =>
    Array.from({ length: metadata.topics.get(topic)?.partitionsCount ?? 0 }, (_, i) => i)
  const offsetsAt = async (
    timestamp: bigint,
    only?: ReadonlyMap<string, readonly number[]>,
  ): Promise<Map<string, bigint>> => {
    const listed = await admin.listOffsets({
      topics: [...(only ?? topics.map((name) => [name, partitionsOf(name)] as const))].map(
        ([name, partitions]) => ({
          name,
          partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })),
        }),
      ),
    })
    const offsets = new Map<string, bigint>()
    for (const t of listed)
      for (const p of t.partitions) offsets.set(`${t.name}:${p.partitionIndex}`, p.offset)
    return offsets
  }
  return { metadata, partitionsOf, offsetsAt }
}

/** The first and next offset of every partition of these topics. */
export async function partitionBounds(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, PartitionBounds>> {
  const bounds = new Map<string, PartitionBounds>()
  if (topics.length === 0) return bounds
  const { partitionsOf, offsetsAt } = await partitionsOfTopics(admin, topics)
  const [starts, ends] = await Promise.all([
    offsetsAt(ListOffsetTimestamps.EARLIEST),
    offsetsAt(ListOffsetTimestamps.LATEST),
  ])
  for (const topic of topics)
    for (const partition of partitionsOf(topic)) {
      const key = `${topic}:${partition}`
      bounds.set(key, { topic, partition, start: starts.get(key) ?? 0n, end: ends.get(key) ?? 0n })
    }
  return bounds
}
