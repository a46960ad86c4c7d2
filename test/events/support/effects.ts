import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { buildEvent, type CloudEvent } from '../../../src/events/envelope.ts'
import type { TransactionContext, TransactionHandler } from '../../../src/events/index.ts'
import { appendToOutbox } from '../../../src/events/outbox/append.ts'
import type { EventTransport, LagEntry } from '../../../src/events/transport/port.ts'
import type { Db } from '../../../src/platform/db.ts'
import { waitFor } from '../../support/wait.ts'

/**
 * Tables the test handlers write: `conf_effects` inside the handler's transaction (what happened once),
 * `conf_deliveries` in autocommit below the runtime (every time a record was handed over, duplicates included).
 */
export async function createEffectTables(db: Db): Promise<void> {
  await sql`create table conf_effects (
      id bigserial primary key, group_id text not null, event_id text not null, key text not null,
      seq integer not null, attempt integer not null, topic text not null, pid integer not null,
      at timestamptz not null default clock_timestamp())`.execute(db)
  await sql`create table conf_deliveries (
      id bigserial primary key, group_id text not null, event_id text, topic text not null,
      partition integer not null, "offset" bigint not null, pid integer not null,
      at timestamptz not null default clock_timestamp())`.execute(db)
}

export interface EffectRow {
  id: number
  event_id: string
  key: string
  seq: number
  attempt: number
  topic: string
  pid: number
  at: Date
}

export async function effectsOf(db: Db, group: string): Promise<EffectRow[]> {
  const result = await sql<EffectRow>`
    select id, event_id, key, seq, attempt, topic, pid, at from conf_effects where group_id = ${group}
    order by id`.execute(db)
  return result.rows
}

export async function distinctEffects(db: Db, group: string): Promise<number> {
  const result = await sql<{ n: number }>`
    select count(distinct event_id)::int as n from conf_effects where group_id = ${group}`.execute(db)
  return result.rows[0]!.n
}

/** Event ids with their effect count, for `exactly once` checks: every expected id once, nothing else. */
export function effectCountsById(rows: readonly EffectRow[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const r of rows) counts.set(r.event_id, (counts.get(r.event_id) ?? 0) + 1)
  return counts
}

export function exactlyOnceProblems(rows: readonly EffectRow[], expected: readonly string[]): string[] {
  const counts = effectCountsById(rows)
  const problems: string[] = []
  for (const id of expected) {
    const n = counts.get(id) ?? 0
    if (n !== 1) problems.push(`${id}: ${n} effects`)
  }
  const known = new Set(expected)
  for (const id of counts.keys()) if (!known.has(id)) problems.push(`${id}: unexpected effect`)
  return problems
}

/** Keys whose effects are not in their publication order (`seq` 1, 2, 3, ... per key in effect order). */
export function orderProblems(rows: readonly EffectRow[]): string[] {
  const lastSeq = new Map<string, number>()
  const problems: string[] = []
  for (const r of rows) {
    const last = lastSeq.get(r.key) ?? 0
    if (r.seq !== last + 1) problems.push(`key ${r.key}: seq ${r.seq} after ${last}`)
    lastSeq.set(r.key, r.seq)
  }
  return problems
}

/** Appends events to the outbox, `perTx` per transaction, in the order given. */
export async function appendEvents(db: Db, events: readonly CloudEvent[], perTx = 100): Promise<void> {
  for (let i = 0; i < events.length; i += perTx) {
    await db.transaction().execute((tx) => appendToOutbox(tx, events.slice(i, i + perTx)))
  }
}

export async function outboxCount(db: Db): Promise<number> {
  const result = await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(db)
  return result.rows[0]!.n
}

/** Waits until every group has committed everything on its topics (lag 0 and at least `minEnd` records in all). */
export async function waitForDrain(
  transport: EventTransport,
  groups: readonly { group: string; topics: readonly string[] }[],
  timeoutMs = 30_000,
): Promise<LagEntry[]> {
  let entries: LagEntry[] = []
  await waitFor(
    `consumer lag 0 for ${groups.map((g) => g.group).join(', ')}`,
    async () => {
      entries = await transport.lag(groups)
      return entries.every((e) => e.lag === 0n)
    },
    { timeoutMs, intervalMs: 100 },
  )
  return entries
}

/**
 * Waits until `group` has an effect for each of `eventIds` and `groups` have committed everything on their topics,
 * then returns the group's effects with what is wrong with them against exactly once (`exactlyOnceProblems`).
 */
export async function settledEffects(
  db: Db,
  transport: EventTransport,
  group: string,
  eventIds: readonly string[],
  groups: readonly { group: string; topics: readonly string[] }[],
  timeoutMs = 60_000,
): Promise<{ rows: EffectRow[]; problems: string[] }> {
  await waitFor(
    `${eventIds.length} effects of ${group}`,
    async () => (await distinctEffects(db, group)) >= eventIds.length,
    { timeoutMs },
  )
  await waitForDrain(transport, groups)
  const rows = await effectsOf(db, group)
  return { rows, problems: exactlyOnceProblems(rows, eventIds) }
}

export const uuids = (n: number): string[] => Array.from({ length: n }, () => randomUUID())

/** `perKey` points.charged events for each key, interleaved across keys; `amount` is the order per key from `from`. */
export function pointsCharged(
  keys: readonly string[],
  perKey: number,
  from = 1,
): CloudEvent<'points.charged'>[] {
  const events: CloudEvent<'points.charged'>[] = []
  let ledgerId = 0
  for (let seq = from; seq < from + perKey; seq++) {
    for (const key of keys) {
      ledgerId++
      events.push(buildEvent('points.charged', key, { userId: key, amount: seq, balance: seq, ledgerId }))
    }
  }
  return events
}

export interface EffectHandlerOptions {
  /** Time spent inside the handler's transaction after writing the effect. */
  delayMs?: number
  /** Throws (or returns an error to throw) to make an attempt fail. */
  fail?: (event: CloudEvent<'points.charged'>, attempt: number) => Error | undefined
  onEffect?: (event: CloudEvent<'points.charged'>, context: TransactionContext) => void
}

/** A points.charged handler whose effect is a conf_effects row written in the handler's transaction. */
export function effectHandler(
  group: string,
  options: EffectHandlerOptions = {},
): TransactionHandler<'points.charged'> {
  return {
    group,
    topic: 'points.charged',
    async handle(event, context) {
      const error = options.fail?.(event, context.attempt)
      if (error) throw error
      await sql`insert into conf_effects (group_id, event_id, key, seq, attempt, topic, pid)
        values (${group}, ${event.id}, ${event.subject}, ${event.data.amount}, ${context.attempt},
                ${context.record.topic}, ${process.pid})`.execute(context.tx)
      if (options.delayMs) await sleep(options.delayMs)
      options.onEffect?.(event, context)
    },
  }
}
