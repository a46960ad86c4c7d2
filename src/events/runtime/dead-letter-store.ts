import { sql } from 'kysely'
import type { Db } from '../../platform/db.ts'
import { AppError } from '../../platform/errors.ts'
import { uuidv7 } from '../../platform/ids.ts'

/** A record the runtime gave up on, as it is stored for operators to list and replay. */
export interface NewDeadLetter {
  group: string
  origin: { topic: string; partition: number; offset: string }
  key: string
  value: string
  error: string
  attempts: number
  firstFailedAt: Date
  lastFailedAt: Date
}

/**
 * Stores a dead letter; the same origin dead-lettered again by the same group (a redelivery) updates the one row.
 * The event id and type are read from the value when it is an envelope; a value that is not stays as it came.
 */
export async function insertDeadLetter(db: Db, d: NewDeadLetter): Promise<void> {
  let eventId: string | null = null
  let eventType: string | null = null
  try {
    const parsed = JSON.parse(d.value) as { id?: unknown; type?: unknown }
    if (typeof parsed?.id === 'string') eventId = parsed.id
    if (typeof parsed?.type === 'string') eventType = parsed.type
  } catch {
    // the value itself is the poison
  }
  await sql`
    insert into dead_letters (id, group_id, original_topic, original_partition, original_offset, key, event_id,
      event_type, value, error, attempts, first_failed_at, last_failed_at)
    values (${uuidv7()}, ${d.group}, ${d.origin.topic}, ${d.origin.partition}, ${d.origin.offset}, ${d.key},
      ${eventId}, ${eventType}, ${d.value}, ${d.error}, ${d.attempts}, ${d.firstFailedAt}, ${d.lastFailedAt})
    on conflict (group_id, original_topic, original_partition, original_offset) where status = 'dead'
    do update set error = excluded.error, attempts = excluded.attempts, last_failed_at = excluded.last_failed_at`.execute(
    db,
  )
}

export interface DeadLetter {
  id: string
  group: string
  originalTopic: string
  originalPartition: number
  originalOffset: string
  key: string
  eventId: string | null
  eventType: string | null
  value: string
  error: string
  attempts: number
  firstFailedAt: string
  lastFailedAt: string
  status: 'dead' | 'replayed'
  replayedAt: string | null
}

type Row = Awaited<ReturnType<ReturnType<typeof baseQuery>['executeTakeFirstOrThrow']>>

function baseQuery(db: Db) {
  return db.selectFrom('dead_letters').selectAll()
}

function toDeadLetter(r: Row): DeadLetter {
  return {
    id: r.id,
    group: r.group_id,
    originalTopic: r.original_topic,
    originalPartition: r.original_partition,
    originalOffset: r.original_offset,
    key: r.key,
    eventId: r.event_id,
    eventType: r.event_type,
    value: r.value,
    error: r.error,
    attempts: r.attempts,
    firstFailedAt: r.first_failed_at.toISOString(),
    lastFailedAt: r.last_failed_at.toISOString(),
    status: r.status,
    replayedAt: r.replayed_at?.toISOString() ?? null,
  }
}

export async function listDeadLetters(
  db: Db,
  filter: { status?: 'dead' | 'replayed' | undefined; group?: string | undefined; limit: number },
): Promise<DeadLetter[]> {
  let query = baseQuery(db).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit)
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.group) query = query.where('group_id', '=', filter.group)
  return (await query.execute()).map(toDeadLetter)
}

export async function findDeadLetter(db: Db, id: string): Promise<DeadLetter> {
  const row = await baseQuery(db).where('id', '=', id).executeTakeFirst()
  if (!row) throw new AppError('DEAD_LETTER_NOT_FOUND')
  return toDeadLetter(row)
}

export async function countDeadLetters(db: Db): Promise<number> {
  const row = await db
    .selectFrom('dead_letters')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('status', '=', 'dead')
    .executeTakeFirstOrThrow()
  return row.n
}

/**
 * Sends dead letters back to their original topic through the outbox (same transaction as marking them
 * replayed). The event keeps its id: groups that already handled it skip it, the one that failed tries again.
 */
export async function replayDeadLetters(db: Db, ids: readonly string[]): Promise<{ replayed: string[] }> {
  if (ids.length === 0) return { replayed: [] }
  return db.transaction().execute(async (tx) => {
    const rows = await tx
      .selectFrom('dead_letters')
      .selectAll()
      .where('id', 'in', [...ids])
      .forUpdate()
      .execute()
    const found = new Set(rows.map((r) => r.id))
    const missing = ids.find((id) => !found.has(id))
    if (missing) throw new AppError('DEAD_LETTER_NOT_FOUND', `No dead letter ${missing}.`)
    for (const row of rows) {
      let event: { id?: unknown }
      try {
        event = JSON.parse(row.value)
      } catch {
        throw new AppError(
          'DEAD_LETTER_NOT_REPLAYABLE',
          `Dead letter ${row.id} is not JSON; it cannot be replayed.`,
        )
      }
      if (row.status !== 'dead') {
        throw new AppError('DEAD_LETTER_NOT_REPLAYABLE', `Dead letter ${row.id} was already replayed.`)
      }
      if (typeof event.id !== 'string') {
        throw new AppError('DEAD_LETTER_NOT_REPLAYABLE', `Dead letter ${row.id} has no event id.`)
      }
      await tx
        .insertInto('outbox')
        .values({ id: event.id, topic: row.original_topic, key: row.key, event: row.value })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute()
    }
    await tx
      .updateTable('dead_letters')
      .set({ status: 'replayed', replayed_at: sql`now()` })
      .where('id', 'in', [...ids])
      .execute()
    return { replayed: rows.map((r) => r.id) }
  })
}
