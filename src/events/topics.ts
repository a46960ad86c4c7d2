import { type EventType, eventCatalog } from './catalog.ts'
import type { TopicSpec } from './transport.ts'

/** Non-blocking retry stages: a failed record waits this long on `<topic>.retry.<n>` before its next try. */
export const RETRY_DELAYS_MS = [1_000, 10_000, 60_000] as const

const DAY = 86_400_000

export interface Durability {
  replicationFactor: number
  minInsyncReplicas: number
}

/** Cluster mode: three copies, writes acknowledged by two. Single broker or embedded: one. */
export function durabilityFor(brokerCount: number): Durability {
  return brokerCount >= 3
    ? { replicationFactor: 3, minInsyncReplicas: 2 }
    : { replicationFactor: 1, minInsyncReplicas: 1 }
}

export const retryTopic = (topic: string, stage: number) => `${topic}.retry.${stage}`
export const deadLetterTopic = (topic: string) => `${topic}.dlq`

/** Partitions per event topic; the key (the aggregate id, CloudEvents `subject`) picks the partition. */
const partitions: Record<EventType, number> = {
  'reservation.held': 6,
  'reservation.confirmed': 6,
  'reservation.cancelled': 6,
  'reservation.expired': 6,
  'points.charged': 6,
  'coupon.issue-requested': 6,
  'coupon.issued': 6,
  'coupon.rejected': 6,
  'notification.requested': 6,
  'queue.entered': 6,
  'queue.admitted': 6,
}

/** Every topic the service uses: each event type, its retry stages and its dead letters. */
export function topicCatalog(durability: Durability): TopicSpec[] {
  const specs: TopicSpec[] = []
  for (const type of Object.keys(eventCatalog) as EventType[]) {
    const base = { ...durability, partitions: partitions[type] }
    specs.push({ name: type, ...base, retentionMs: 7 * DAY })
    RETRY_DELAYS_MS.forEach((_, i) => {
      specs.push({ name: retryTopic(type, i + 1), ...base, retentionMs: 7 * DAY })
    })
    specs.push({ name: deadLetterTopic(type), ...base, retentionMs: 30 * DAY })
  }
  return specs
}

/** The topics a consumer of `topic` reads: the topic and its retry stages. */
export function consumedTopics(topic: string): string[] {
  return [topic, ...RETRY_DELAYS_MS.map((_, i) => retryTopic(topic, i + 1))]
}

/** Kafka key per event type, documented for operators (the README's topic table is generated from this). */
export const topicKeys: Record<EventType, string> = {
  'reservation.held': 'reservation id',
  'reservation.confirmed': 'reservation id',
  'reservation.cancelled': 'reservation id',
  'reservation.expired': 'reservation id',
  'points.charged': 'user id',
  'coupon.issue-requested': 'coupon id (one partition per coupon: requests are serialized)',
  'coupon.issued': 'coupon request id (results fan out in parallel)',
  'coupon.rejected': 'coupon request id',
  'notification.requested': 'notification id : channel (each channel delivers on its own)',
  'queue.entered': 'schedule id : user id',
  'queue.admitted': 'schedule id : user id',
}
