import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'

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
  let query = baseQuery(db).orderBy('created_at', 'desc').limit(filter.limit)
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
