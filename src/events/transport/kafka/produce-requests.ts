import { partitionFor } from '../partitioner.ts'
import type { OutgoingRecord } from '../port.ts'

/**
 * What one produce request may carry for one partition. A broker refuses a partition's record batch above its
 * `message.max.bytes` (1 MiB by default) with MESSAGE_TOO_LARGE, which no retry mends: a relay batch of 2,000 events
 * with one key (a first-come coupon's requests) would stop every side effect. Half of that default leaves room for
 * the batch's own framing and for brokers set lower.
 */
export const MAX_PARTITION_BYTES_PER_REQUEST = 512 * 1024

/** A record as it travels: its partition and a generous estimate of its bytes in a record batch. */
export interface Placed {
  record: OutgoingRecord
  partition: number
  bytes: number
}

/** Record framing in a v2 batch: length, attributes, timestamp and offset deltas, key/value/header lengths. */
const RECORD_OVERHEAD = 32

function recordBytes(r: OutgoingRecord): number {
  let bytes = RECORD_OVERHEAD + Buffer.byteLength(r.key) + Buffer.byteLength(r.value)
  for (const name in r.headers) bytes += 8 + Buffer.byteLength(name) + Buffer.byteLength(r.headers[name]!)
  return bytes
}

/**
 * Splits records, in their order, into consecutive produce requests so that no partition gets more than `maxBytes`
 * in one request (a record larger than that goes alone). Sent one after another, the requests keep per-key order.
 */
export function produceRequests(
  records: readonly OutgoingRecord[],
  partitionsOf: (topic: string) => number,
  maxBytes = MAX_PARTITION_BYTES_PER_REQUEST,
): Placed[][] {
  const requests: Placed[][] = []
  let current: Placed[] = []
  let bytesOf = new Map<string, number>()
  for (const record of records) {
    const placed = {
      record,
      partition: partitionFor(record.key, partitionsOf(record.topic)),
      bytes: recordBytes(record),
    }
    const slot = `${record.topic}:${placed.partition}`
    const before = bytesOf.get(slot) ?? 0
    if (before > 0 && before + placed.bytes > maxBytes) {
      requests.push(current)
      current = []
      bytesOf = new Map()
    }
    current.push(placed)
    bytesOf.set(slot, (bytesOf.get(slot) ?? 0) + placed.bytes)
  }
  if (current.length > 0) requests.push(current)
  return requests
}
