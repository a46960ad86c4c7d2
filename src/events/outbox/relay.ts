import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { Counter, Gauge, type Registry } from 'prom-client'
import { validate as isUuid } from 'uuid'
import { Lock } from '../../platform/advisory-locks.ts'
import { createBackgroundLoop } from '../../platform/background-loop.ts'
import type { DatabaseHandle, Db } from '../../platform/db.ts'
import type { FanLoad } from '../../platform/fan-load.ts'
import type { Logger } from '../../platform/logger.ts'
import { listen } from '../../platform/pg-listen.ts'
import { execute, statement } from '../../platform/prepared.ts'
import type { EventTransport, OffsetRange, PartitionEnd } from '../transport/port.ts'
import { type OutboxBacklog, outboxBacklog } from './backlog.ts'

/**
 * The header that carries each record's outbox row id (the event's id), so that a relay can tell what was published
 * already. An id, not the row's position: positions start again at 1 in another database publishing to the same topics
 * (or in this one restored from a backup), and a position read back from there would take our row for published.
 */
export const ID_HEADER = 'outbox-id'

/**
 * Whether the outbox holds a row this relay may publish: an idle relay's look, ten a second. The first row in sequence
 * order, read through the primary key: published rows stay behind as dead tuples until the table is vacuumed (a
 * minute apart at best, never where autovacuum is off), and `exists` over the heap read every page of them (3,125
 * pages, 0.7 ms, after 50,000 events) where the index's dead entries, marked as such by earlier scans, take 139.
 */
export const pendingStatement = statement(
  'outbox_relay_pending',
  `select (select seq from outbox where $1::text[] is null or topic = any($1::text[]) order by seq limit 1)
            is not null as pending`,
)

/**
 * Opens a relay batch's transaction: takes the relay's lock, and keeps the planner off sequential scans until the
 * transaction ends. After a burst, a vacuum leaves the outbox's heap as long as the burst made it (a row still
 * unpublished at its end keeps it from being truncated) while its statistics say a few rows are left, and the planner
 * then read every page of it and sorted them rather than walk the primary key: 13,347 pages and 2.5 ms a batch after
 * 200,000 events, against 15 pages and 0.25 ms (EXPLAIN (ANALYZE, BUFFERS)). JIT goes off with it: a sequential scan
 * left without another path (relay_positions) is costed past jit_above_cost, and compiling it took 48 ms a batch
 * (Kafka's relay fell from 55,000 to 38,000-43,000 events a second). The settings go in the lock's own statement (what
 * tryXactLock runs, with them beside it) so that they cost no round trip. false: another relay holds the lock.
 */
export async function beginRelayBatch(tx: Db): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`
    select pg_try_advisory_xact_lock(${Lock.relay}) as ok,
           set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)`.execute(tx)
  return rows[0]?.ok === true
}

/**
 * The next batch of rows a relay publishes, in sequence order (exported for a test to EXPLAIN). `withEvents`: each
 * event as text, for a transport outside the database; the embedded log reads them where they lie (publishWithin).
 */
export function relayHeadQuery(
  tx: Db,
  topics: readonly string[] | undefined,
  batchSize: number,
  withEvents = true,
) {
  // The event as text, as the database writes it out, and its traceparent beside it: read as jsonb, every event was
  // parsed into an object by the driver only to be stringified again here.
  let query = tx
    .selectFrom('outbox')
    .select(['seq', 'id', 'topic', 'key', sql<string | null>`event->>'traceparent'`.as('traceparent')])
    .$if(withEvents, (q) => q.select(sql<string>`event::text`.as('value')))
  if (topics) query = query.where('topic', 'in', topics)
  return query.orderBy('seq').limit(batchSize)
}

function samePositions(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false
  for (const [key, value] of a) if (b.get(key) !== value) return false
  return true
}

export interface RelayOptions {
  database: DatabaseHandle
  transport: EventTransport
  logger: Logger
  registry: Registry
  batchSize?: number
  /**
   * The topics this relay may publish (the topic catalog of its version). A row of another topic (written by a newer
   * version during a rolling upgrade, or by a bug) stays in the outbox for a relay that knows it, reported by
   * retention, and holds up nothing behind it. All topics when absent.
   */
  topics?: readonly string[]
  /** Fallback poll when no NOTIFY arrives. */
  idleMs?: number
  /**
   * After a batch that did not fill, the least time from its publish to the next one's, so that events that keep
   * coming go out in fewer, larger publishes (as a Kafka producer's linger.ms). The first event after a quiet moment
   * goes at once, and a batch that took longer than this is followed at once. 0 (the default): the next batch at once.
   */
  lingerMs?: number
  /** A longer linger while the instance's fans keep it busy (see FanLoad); the longer of the two counts. */
  busyLinger?: { fans: FanLoad; ms: number } | undefined
}

export interface OutboxRelay {
  start(): Promise<void>
  stop(): Promise<void>
  /** Moves one batch; returns how many events it published (0 when another instance holds the relay lock). */
  relayOnce(): Promise<number>
}

/**
 * Moves committed outbox rows to the transport in commit order, in batches: publish (acknowledged by the
 * transport), then delete, in one database transaction. One relay publishes at a time (an advisory lock), which keeps
 * per-key order across instances. On Kafka each record carries its outbox row's id (`outbox-id`) and the delete
 * records where each partition ends; a relay that finds records past those ends (its predecessor died between
 * publishing and deleting, or a publish failed after it landed) reads their ids back and deletes those rows instead
 * of publishing them twice. The embedded log appends in the delete's own transaction.
 */
export function createOutboxRelay(options: RelayOptions): OutboxRelay {
  const db = options.database.db
  const batchSize = options.batchSize ?? 2000
  const lingerMs = options.lingerMs ?? 0
  const busyLinger = options.busyLinger
  const published = new Counter({
    name: 'outbox_published_total',
    help: 'Events moved from the outbox to the transport',
    registers: [options.registry],
  })
  // Both gauges are collected at once on each scrape: they share one read of the outbox, not one each.
  let reading: Promise<OutboxBacklog> | undefined
  const backlog = () => {
    reading ??= outboxBacklog(db)
      .catch(() => ({ backlog: 0, exact: true, oldestAgeSeconds: 0 }))
      .finally(() => {
        reading = undefined
      })
    return reading
  }
  new Gauge({
    name: 'outbox_backlog',
    help: 'Events committed but not yet published',
    registers: [options.registry],
    async collect() {
      this.set((await backlog()).backlog)
    },
  })
  new Gauge({
    name: 'outbox_oldest_age_seconds',
    help: 'Age of the oldest unpublished event',
    registers: [options.registry],
    async collect() {
      this.set((await backlog()).oldestAgeSeconds)
    },
  })

  const readBack = new Counter({
    name: 'outbox_read_back_total',
    help: 'Outbox rows found already published (by a relay that died before its delete) and not published again',
    registers: [options.registry],
  })
  const transport = options.transport
  const within = transport.publishWithin?.bind(transport)
  const positioned = transport.partitionBounds && transport.readHeader ? transport : undefined
  /** The positions this process wrote last, while its batches went through: then nobody published past them. */
  let written: Map<string, number> | undefined

  /**
   * Kafka: records past the recorded positions were published by a relay that died (or failed) before deleting their
   * rows. Their rows are deleted now instead of published again, and the positions move to the partitions' ends.
   */
  async function settleUnrecorded(tx: Db, topics: string[], recorded: Map<string, number>): Promise<number> {
    const bounds = await positioned!.partitionBounds!(topics)
    const ranges: OffsetRange[] = []
    for (const b of bounds.values()) {
      const mark = recorded.get(`${b.topic}:${b.partition}`)
      const from = mark === undefined || BigInt(mark) < b.start ? b.start : BigInt(mark)
      if (b.end > from) ranges.push({ topic: b.topic, partition: b.partition, from, to: b.end })
    }
    let gone = 0
    if (ranges.length > 0) {
      // Records another relay wrote before this header existed carry none: their rows are published again, and the
      // consumers' idempotency drops the duplicates.
      const ids = [...new Set(await positioned!.readHeader!(ranges, ID_HEADER))].filter((id) => isUuid(id))
      if (ids.length > 0)
        gone = (await tx.deleteFrom('outbox').where('id', 'in', ids).returning('seq').execute()).length
      readBack.inc(gone)
      options.logger.warn(
        { partitions: ranges.length, records: ids.length, rowsNotRepublished: gone },
        'outbox relay: records past the recorded positions read back; their rows are not published again',
      )
    }
    await deleteAndRecord(tx, [], bounds.values(), recorded)
    return gone
  }

  /**
   * Deletes the published rows (`seqs`, none when only settling) and writes the partitions' ends (none on a transport
   * without positions) as the positions, and into `recorded`: one statement, so a batch's delete costs no round trip
   * of its own.
   */
  async function deleteAndRecord(
    tx: Db,
    seqs: readonly (number | string)[],
    ends: Iterable<PartitionEnd>,
    recorded: Map<string, number>,
  ): Promise<void> {
    const values = [...ends].map((b) => ({
      topic: b.topic,
      partition: b.partition,
      next_offset: Number(b.end),
    }))
    if (seqs.length === 0 && values.length === 0) return
    await sql`
      with published as (delete from outbox where seq = any(${seqs}::bigint[]))
      insert into relay_positions (topic, partition, next_offset)
      select * from unnest(${values.map((v) => v.topic)}::text[], ${values.map((v) => v.partition)}::int[],
                           ${values.map((v) => v.next_offset)}::bigint[])
      on conflict (topic, partition) do update set next_offset = excluded.next_offset, updated_at = now()`.execute(
      tx,
    )
    for (const v of values) recorded.set(`${v.topic}:${v.partition}`, v.next_offset)
  }

  let lastMoved = false
  /** When the last batch's publish began. */
  let publishedAt = 0
  async function outboxHasRows(): Promise<boolean> {
    const rows = await execute<{ pending: boolean }>(options.database, pendingStatement, [
      options.topics ? [...options.topics] : null,
    ])
    return rows[0]!.pending
  }

  async function relayBatch(tx: Db): Promise<{ moved: number; positions?: Map<string, number> }> {
    if (!(await beginRelayBatch(tx))) return { moved: 0 }
    const select = () => relayHeadQuery(tx, options.topics, batchSize, !within).execute()
    let rows = await select()
    const recorded = new Map<string, number>()
    let topics: string[] = []
    if (positioned) {
      const marks = await tx
        .selectFrom('relay_positions')
        .select(['topic', 'partition', 'next_offset'])
        .execute()
      for (const m of marks) recorded.set(`${m.topic}:${m.partition}`, Number(m.next_offset))
      topics = [...new Set([...(options.topics ?? rows.map((r) => r.topic)), ...marks.map((m) => m.topic)])]
      // Unless this process wrote the positions last and its batches went through, look past them first.
      if (!written || !samePositions(written, recorded)) {
        if ((await settleUnrecorded(tx, topics, recorded)) > 0) rows = await select()
      }
    }
    if (rows.length === 0) return positioned ? { moved: 0, positions: recorded } : { moved: 0 }
    const headers = (r: (typeof rows)[number]) => ({
      'content-type': 'application/cloudevents+json',
      [ID_HEADER]: r.id,
      ...(r.traceparent ? { traceparent: r.traceparent } : {}),
    })
    let ends: readonly PartitionEnd[] | undefined
    publishedAt = performance.now()
    if (within)
      await within(
        tx,
        rows.map((r) => ({ seq: r.seq, topic: r.topic, key: r.key, headers: headers(r) })),
      )
    else
      ends = await transport.publish(
        rows.map((r) => ({ topic: r.topic, key: r.key, value: r.value!, headers: headers(r) })),
      )
    // This relay alone publishes these topics (the lock): the partitions end where its acknowledged records end, as
    // the acknowledgements tell (a transport that does not tell is asked). A transport without positions has none.
    if (positioned)
      ends ??= [...(await positioned.partitionBounds!([...new Set(rows.map((r) => r.topic))])).values()]
    const seqs = rows.map((r) => r.seq)
    await deleteAndRecord(tx, seqs, positioned ? (ends ?? []) : [], recorded)
    return positioned ? { moved: rows.length, positions: recorded } : { moved: rows.length }
  }

  async function relayOnce(): Promise<number> {
    // An empty outbox (an idle instance looks ten times a second) costs one read instead of a transaction of four
    // statements. Not asked right after a batch moved rows (there are likely more), nor by a relay that has yet to
    // check the transport's positions against its own.
    if (!lastMoved && (written !== undefined || !positioned) && !(await outboxHasRows())) return 0
    try {
      const { moved, positions } = await db.transaction().execute(relayBatch)
      lastMoved = moved > 0
      if (positions) written = positions
      published.inc(moved)
      return moved
    } catch (error) {
      // A publish that failed may still have landed: the next batch looks past the positions first.
      written = undefined
      throw error
    }
  }

  // Look again after any batch; otherwise wait for a NOTIFY (one that came meanwhile is not lost) or the poll.
  const loop = createBackgroundLoop({
    name: 'outbox-relay',
    logger: options.logger,
    idleMs: options.idleMs ?? 100,
    run: async (signal) => {
      const moved = await relayOnce()
      // The linger counts from the batch's publish, not from its end: a batch that took longer than the linger (a
      // slow acknowledgement, a busy machine) is followed at once, and no event waits more than the linger for it.
      const linger = busyLinger?.fans.busy ? Math.max(lingerMs, busyLinger.ms) : lingerMs
      const rest = publishedAt + linger - performance.now()
      if (moved > 0 && moved < batchSize && rest > 0) await sleep(rest, undefined, { signal }).catch(() => {})
      return moved > 0
    },
  })
  let unlisten: (() => Promise<void>) | undefined

  return {
    relayOnce,
    async start() {
      if (loop.running) return
      unlisten = await listen(options.database, 'outbox', () => loop.wake())
      loop.start()
    },
    async stop() {
      await loop.stop()
      await unlisten?.()
      unlisten = undefined
    },
  }
}
