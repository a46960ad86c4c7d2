import { sql } from 'kysely'
import type { Db, Tx } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { sequenceNameFor } from './queue-rules.ts'

export type EntryStatus = 'waiting' | 'admitted' | 'left' | 'completed' | 'expired'

export interface QueueEntry {
  status: EntryStatus
  seq: number | null
  admittedThrough: number
  admittedUntil: Date | null
}

export interface QueueSettings {
  maxActive: number
  ratePerSecond: number
  admittedTtlSeconds: number
}

/** Creates the schedule's waiting room (its own sequence gives O(1) positions) in the caller's transaction. */
export async function prepareQueue(tx: Tx, scheduleId: string): Promise<void> {
  const name = sequenceNameFor(scheduleId)
  await sql`create sequence ${sql.id(name)}`.execute(tx)
  await tx.insertInto('queue_state').values({ schedule_id: scheduleId, sequence_name: name }).execute()
}

export async function readEntry(db: Db, scheduleId: string, userId: string): Promise<QueueEntry> {
  const row = await db
    .selectFrom('queue_entries as e')
    .innerJoin('queue_state as s', 's.schedule_id', 'e.schedule_id')
    .select([
      'e.status',
      'e.seq',
      's.admitted_through',
      'e.admitted_until',
      sql<boolean>`e.admitted_until is not null and e.admitted_until <= now()`.as('lapsed'),
    ])
    .where('e.schedule_id', '=', scheduleId)
    .where('e.user_id', '=', userId)
    .executeTakeFirst()
  if (!row) throw new AppError('QUEUE_ENTRY_NOT_FOUND')
  const status: EntryStatus = row.status === 'admitted' && row.lapsed ? 'expired' : row.status
  return { status, seq: row.seq, admittedThrough: row.admitted_through, admittedUntil: row.admitted_until }
}

export async function queueStatus(db: Db, scheduleId: string) {
  const state = await db
    .selectFrom('queue_state')
    .select(['opened', 'admitted_through', 'sequence_name'])
    .where('schedule_id', '=', scheduleId)
    .executeTakeFirst()
  if (!state) throw new AppError('SCHEDULE_NOT_FOUND')
  const counts = await db
    .selectFrom('queue_entries')
    .select([
      sql<number>`count(*) filter (where status = 'waiting')::int`.as('waiting'),
      sql<number>`count(*) filter (where status = 'admitted' and admitted_until > now())::int`.as('active'),
      sql<number>`count(*) filter (where status = 'completed')::int`.as('completed'),
      sql<number>`count(*) filter (where status = 'left')::int`.as('left'),
      sql<number | null>`max(seq) filter (where status = 'waiting')`.as('lastSeq'),
    ])
    .where('schedule_id', '=', scheduleId)
    .executeTakeFirstOrThrow()
  return { opened: state.opened, admittedThrough: state.admitted_through, ...counts }
}
