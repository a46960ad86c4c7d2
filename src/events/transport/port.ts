import type { Db } from '../../platform/db.ts'

/**
 * The event transport port: what the outbox relay and the consumer runtime need from Kafka or from the
 * embedded database log, nothing more. Both transports give the same guarantees:
 * - a record is handled at least once; its offset is committed only after `handle` resolved;
 * - records with the same key are handled one at a time, in offset order; other keys run in parallel;
 * - `close()` stops fetching, drains in-flight work, commits what finished, and leaves the group.
 */

export interface TopicSpec {
  name: string
  partitions: number
  replicationFactor: number
  minInsyncReplicas: number
  retentionMs: number
}

export interface OutgoingRecord {
  topic: string
  key: string
  value: string
  headers?: Record<string, string>
}

/** An outbox row the embedded log appends where it lies: its event is read by the append's own statement. */
export interface OutboxRecord extends Omit<OutgoingRecord, 'value'> {
  /** The row's position in the outbox. */
  seq: number | string
}

export interface PartitionBounds {
  topic: string
  partition: number
  /** The first offset still in the log (retention moves it). */
  start: bigint
  /** The offset the next record will get. */
  end: bigint
}

/** Where a publish left a partition it wrote: the offset the partition's next record will get. */
export interface PartitionEnd {
  topic: string
  partition: number
  end: bigint
}

/** Offsets [from, to) of one partition. */
export interface OffsetRange {
  topic: string
  partition: number
  from: bigint
  to: bigint
}

export interface TransportRecord {
  topic: string
  partition: number
  offset: bigint
  key: string
  value: string
  headers: Record<string, string>
  /** Append time in ms since the epoch. */
  timestamp: number
}

export interface ConsumerSpec {
  group: string
  topics: readonly string[]
  /** Resolves when the record is done (handled, retried elsewhere or dead-lettered); rejects only on shutdown. */
  handle(record: TransportRecord, signal: AbortSignal): Promise<void>
  /** Distinct keys being handled at once per partition (keys whose record is not due yet do not count). */
  keyConcurrency?: number
  /** false: records of one key may run at once, like records of different keys (default true: one at a time). */
  inKeyOrder?: boolean
  /**
   * Asked when fetched records arrive: a promise while the group's records wait anyway (they yield to the fans, see
   * FanLoad), and the consumer fetches no more until it resolves. What it fetched stays buffered; the rest stays in
   * the log, not in memory, and costs no fetch meanwhile.
   */
  holdFetching?(): Promise<void> | undefined
  /**
   * When a record may be handled, in ms since the epoch (undefined: at once); never throws. Asked when the record is
   * next of its key; until then the key waits parked, and the records behind it in the key wait with it.
   */
  dueAt?(record: TransportRecord): number | undefined
}

export interface LagEntry {
  group: string
  topic: string
  partition: number
  committed: bigint
  end: bigint
  lag: bigint
}

/** A group's partition whose lag a reading could not tell, because a broker it needed did not answer. */
export interface LagUnknown {
  group: string
  topic: string
  partition: number
}

/** What a reading could tell (`entries`) and what it could not (`unknown`), with why (`reason`, when any is). */
export interface PartialLag {
  entries: LagEntry[]
  unknown: LagUnknown[]
  reason?: string
}

export interface ConsumerHandle {
  readonly group: string
  /** Partitions currently owned by this member. */
  assignments(): { topic: string; partition: number }[]
  /** Records fetched and waiting for their time (`ConsumerSpec.dueAt`): a pending hold's expiry, say. */
  waitingForDue(): number
  close(): Promise<void>
}

export interface EventTransport {
  readonly kind: 'kafka' | 'local'
  /** Creates missing topics with their settings; idempotent. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>
  /**
   * Appends records durably (Kafka: acks=all, idempotent producer); per-key order within the call is kept. Kafka
   * answers where each partition it wrote now ends (from the brokers' acknowledgements).
   */
  publish(records: readonly OutgoingRecord[]): Promise<readonly PartitionEnd[] | undefined>
  /**
   * Embedded log only: appends outbox rows in the caller's transaction, so the relay moves them to the log atomically
   * (and PGlite, a single connection, never needs a second transaction for it). Each row's event goes from the outbox
   * to the log inside the database: the relay never reads it out.
   */
  publishWithin?(tx: Db, records: readonly OutboxRecord[]): Promise<void>
  /** Kafka only: the first and the next offset of every partition of these topics, by `topic:partition`. */
  partitionBounds?(topics: readonly string[]): Promise<Map<string, PartitionBounds>>
  /**
   * Kafka only: the value of one header on every record of these offset ranges (the relay reads back what a relay
   * that died between publishing and deleting its batch had already published).
   */
  readHeader?(ranges: readonly OffsetRange[], header: string): Promise<string[]>
  consume(spec: ConsumerSpec): Promise<ConsumerHandle>
  /** Committed offset, log end and lag per group and partition, for the groups given. */
  lag(groups: readonly { group: string; topics: readonly string[] }[]): Promise<LagEntry[]>
  /**
   * Kafka only: the same reading, but a part whose broker does not answer (the leader of some partitions, the
   * coordinator of a group: for about ten seconds after a broker dies, until the cluster elects others) is left
   * unknown instead of failing the rest. Throws only when nothing can be asked (the cluster's metadata). lag() stays
   * all or nothing: a drain must never be judged on part of the partitions.
   */
  lagAsFarAsKnown?(groups: readonly { group: string; topics: readonly string[] }[]): Promise<PartialLag>
  close(): Promise<void>
}
