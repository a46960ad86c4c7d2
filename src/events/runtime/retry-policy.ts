import { describeError } from '../../platform/errors.ts'
import { deadLetterTopic, retryTopic } from '../topics.ts'
import type { OutgoingRecord, TransportRecord } from '../transport/port.ts'

/** Headers a record carries through retry topics and into the dead letters. */
export const RetryHeaders = {
  attempts: 'x-attempts',
  group: 'x-retry-group',
  notBefore: 'x-not-before',
  firstFailure: 'x-first-failure',
  lastFailure: 'x-last-failure',
  error: 'x-error',
  originalTopic: 'x-original-topic',
  originalPartition: 'x-original-partition',
  originalOffset: 'x-original-offset',
} as const

/** Where the record first came from: its own topic, partition and offset, or those it carried since. */
export function originOf(record: TransportRecord): { topic: string; partition: number; offset: string } {
  return {
    topic: record.headers[RetryHeaders.originalTopic] ?? record.topic,
    partition: Number(record.headers[RetryHeaders.originalPartition] ?? record.partition),
    offset: record.headers[RetryHeaders.originalOffset] ?? record.offset.toString(),
  }
}

function originHeaders(record: TransportRecord): Record<string, string> {
  const origin = originOf(record)
  return {
    [RetryHeaders.originalTopic]: origin.topic,
    [RetryHeaders.originalPartition]: String(origin.partition),
    [RetryHeaders.originalOffset]: origin.offset,
  }
}

/** 0 for the event topic itself, n for `<topic>.retry.<n>`. */
export function stageOf(record: TransportRecord, eventTopic: string): number {
  return record.topic === eventTopic ? 0 : Number(record.topic.slice(record.topic.lastIndexOf('.') + 1))
}

/** Attempts made before this delivery (0 on the event topic). */
export const previousAttempts = (record: TransportRecord): number =>
  Number(record.headers[RetryHeaders.attempts] ?? 0)

/** When a failed record may be tried again (ms since the epoch); 0 on the event topic. */
export const notBefore = (record: TransportRecord): number =>
  Number(record.headers[RetryHeaders.notBefore] ?? 0)

/** When the record first failed (ms since the epoch), or `now` if this is its first failure. */
export const firstFailure = (record: TransportRecord, now: number): number =>
  Number(record.headers[RetryHeaders.firstFailure] ?? now)

/** A retry record belongs to the group that failed it; every other group reading the retry topic skips it. */
export const retryGroupOf = (record: TransportRecord): string | undefined =>
  record.headers[RetryHeaders.group]

/** The record moved to retry stage `stage`, to be tried again after `delayMs`. */
export function retryRecord(input: {
  eventTopic: string
  group: string
  record: TransportRecord
  stage: number
  attempts: number
  delayMs: number
  error: unknown
}): OutgoingRecord {
  const now = Date.now()
  const { record } = input
  return {
    topic: retryTopic(input.eventTopic, input.stage),
    key: record.key,
    value: record.value,
    headers: {
      ...originHeaders(record),
      [RetryHeaders.group]: input.group,
      [RetryHeaders.attempts]: String(input.attempts),
      [RetryHeaders.notBefore]: String(now + input.delayMs),
      [RetryHeaders.firstFailure]: String(firstFailure(record, now)),
      [RetryHeaders.lastFailure]: String(now),
      [RetryHeaders.error]: describeError(input.error),
    },
  }
}

/** The record as it goes to `<topic>.dlq`, with its origin, attempts and failure times. */
export function deadLetterRecord(input: {
  eventTopic: string
  group: string
  record: TransportRecord
  attempts: number
  firstFailedAt: number
  lastFailedAt: number
  error: unknown
}): OutgoingRecord {
  const { record } = input
  return {
    topic: deadLetterTopic(input.eventTopic),
    key: record.key,
    value: record.value,
    headers: {
      ...originHeaders(record),
      [RetryHeaders.group]: input.group,
      [RetryHeaders.attempts]: String(input.attempts),
      [RetryHeaders.firstFailure]: String(input.firstFailedAt),
      [RetryHeaders.lastFailure]: String(input.lastFailedAt),
      [RetryHeaders.error]: describeError(input.error),
    },
  }
}
