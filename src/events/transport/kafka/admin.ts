import { setTimeout as sleep } from 'node:timers/promises'
import { type Admin, ListOffsetTimestamps } from '@platformatic/kafka'
import type { Logger } from '../../../platform/logger.ts'
import { reportDeclaredPartitions } from '../declared-partitions.ts'
import type { LagEntry, PartitionBounds, TopicSpec } from '../port.ts'

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

/** Committed offset, log end and lag per group and partition. */
export async function consumerLag(
  admin: Admin,
  groups: readonly { group: string; topics: readonly string[] }[],
): Promise<LagEntry[]> {
  const wanted = groups.filter((g) => g.topics.length > 0)
  if (wanted.length === 0) return []
  const topics = [...new Set(wanted.flatMap((g) => g.topics))]
  const { partitionsOf, offsetsAt } = await partitionsOfTopics(admin, topics)
  const ends = await offsetsAt(ListOffsetTimestamps.LATEST)
  const committed = new Map<string, bigint>()
  const offsets = await admin.listConsumerGroupOffsets({
    groups: wanted.map((g) => ({
      groupId: g.group,
      topics: g.topics.map((name) => ({ name, partitionIndexes: partitionsOf(name) })),
    })),
  })
  for (const g of offsets) {
    for (const t of g.topics) {
      for (const p of t.partitions)
        committed.set(`${g.groupId}\u0000${t.name}:${p.partitionIndex}`, p.committedOffset)
    }
  }
  const out: LagEntry[] = []
  for (const g of wanted) {
    for (const topic of g.topics) {
      for (const partition of partitionsOf(topic)) {
        const end = ends.get(`${topic}:${partition}`) ?? 0n
        const raw = committed.get(`${g.group}\u0000${topic}:${partition}`) ?? -1n
        const at = raw < 0n ? 0n : raw
        out.push({ group: g.group, topic, partition, committed: at, end, lag: end > at ? end - at : 0n })
      }
    }
  }
  return out
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

/** The partitions of these topics (from the client's metadata cache) and their offsets at a time, by `topic:partition`. */
async function partitionsOfTopics(admin: Admin, topics: readonly string[]) {
  const metadata = await admin.metadata({ topics: [...topics] })
  const partitionsOf = (topic: string) =>
    Array.from({ length: metadata.topics.get(topic)?.partitionsCount ?? 0 }, (_, i) => i)
  const offsetsAt = async (timestamp: bigint): Promise<Map<string, bigint>> => {
    const listed = await admin.listOffsets({
      topics: topics.map((name) => ({
        name,
        partitions: partitionsOf(name).map((partitionIndex) => ({ partitionIndex, timestamp })),
      })),
    })
    const offsets = new Map<string, bigint>()
    for (const t of listed)
      for (const p of t.partitions) offsets.set(`${t.name}:${p.partitionIndex}`, p.offset)
    return offsets
  }
  return { partitionsOf, offsetsAt }
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
