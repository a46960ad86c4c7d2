import { type EventType, eventTypes } from './event-types.ts'
import type { TopicSpec } from './transport/port.ts'

/**
 * The default non-blocking retry stages: a failed record waits this long on `<topic>.retry.<n>` before its next try.
 * RETRY_DELAYS_MS configures them; the number of stages decides which retry topics exist and are consumed.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1_000, 10_000, 60_000]

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

/**
 * Partitions of each retry and dead-letter topic. They carry the exceptions, so one partition is enough (a retry
 * partition runs up to its handler's key concurrency at once, 256 by default), and every partition costs the brokers
 * on every fetch whether it holds anything or not: a follower's fetch and a fetch waiting for records go through all
 * the partitions in them. With their event topics' partitions they were 348 of a service's 435, and the brokers'
 * CPU per payment was 0.266 / 0.220 ms against 0.142 / 0.174 with one (alternated, bench/HISTORY.md).
 */
export const EXCEPTION_TOPIC_PARTITIONS = 1

/**
 * Every topic the service uses: each event type, its `stages` retry topics and its dead letters.
 *
 * `partitions` is each event topic's (EVENT_PARTITIONS, one by default); the key (the aggregate id, CloudEvents
 * `subject`) picks the partition. A partition is a group's unit of spread across instances, not of concurrency (one
 * runs up to its handler's key concurrency at once), so one partition runs a group on one instance at a time. Every
 * partition that takes appends costs the brokers on every publish: the produce to its leader, the followers' fetches
 * and the woken fetch of every group on the topic. The brokers' CPU per Kafka payment was 0.054-0.070 ms with one
 * against 0.096-0.104 with three, and 0.108-0.110 with three against 0.126-0.142 with six (alternated,
 * bench/HISTORY.md). Topics that exist keep the partitions they have, and both transports use those.
 */
export function topicCatalog(
  durability: Durability,
  partitions: number,
  stages = DEFAULT_RETRY_DELAYS_MS.length,
): TopicSpec[] {
  const specs: TopicSpec[] = []
  for (const type of Object.keys(eventTypes) as EventType[]) {
    const exceptions = { ...durability, partitions: EXCEPTION_TOPIC_PARTITIONS }
    specs.push({ name: type, ...durability, partitions, retentionMs: 7 * DAY })
    for (let stage = 1; stage <= stages; stage++) {
      specs.push({ name: retryTopic(type, stage), ...exceptions, retentionMs: 7 * DAY })
    }
    specs.push({ name: deadLetterTopic(type), ...exceptions, retentionMs: 30 * DAY })
  }
  return specs
}

/** The topics a consumer of `topic` reads: the topic and its `stages` retry topics. */
export function consumedTopics(topic: string, stages = DEFAULT_RETRY_DELAYS_MS.length): string[] {
  return [topic, ...Array.from({ length: stages }, (_, i) => retryTopic(topic, i + 1))]
}

/** Kafka key per event type, for operators; a unit test checks the README's topic table against it. */
export const topicKeys: Record<EventType, string> = {
  'reservation.held': 'reservation id',
  'reservation.confirmed': 'reservation id',
  'reservation.cancelled': 'reservation id',
  'reservation.expired': 'reservation id',
  'reservation.refunded': 'reservation id',
  'points.charged': 'user id',
  'coupon.issue-requested': 'coupon id (requests for one coupon are serialized)',
  'coupon.issued': 'coupon request id',
  'coupon.rejected': 'coupon request id',
  'notification.requested': 'notification id : channel',
  'queue.entered': 'schedule id : user id',
  'queue.admitted': 'schedule id : user id',
  'waitlist.offered': 'seat id',
  'webhook.endpoint-disabled': 'webhook endpoint id',
  'phone.verification-requested': 'user id',
}
