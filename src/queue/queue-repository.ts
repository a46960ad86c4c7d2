import { sql } from 'kysely'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db, Tx } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { admissionBudget, sequenceNameFor } from './queue-rules.ts'

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

/** Joins the line (or keeps the place already held); before the sale opens the place is drawn at opening. */
export async function enterQueue(db: Db, scheduleId: string, userId: string): Promise<{ entered: boolean }> {
  return db.transaction().execute(async (tx) => {
    const state = await tx
      .selectFrom('queue_state')
      .select(['sequence_name', 'opened'])
      .where('schedule_id', '=', scheduleId)
      .executeTakeFirst()
    if (!state) throw new AppError('SCHEDULE_NOT_FOUND')
    const seq = state.opened ? sql<number>`nextval(${state.sequence_name}::regclass)` : sql<null>`null`
    // Insert without a place first: VALUES would call nextval even when the row exists, and every such gap
    // would push everyone behind one place further back.
    const inserted = await tx
      .insertInto('queue_entries')
      .values({ schedule_id: scheduleId, user_id: userId, seq: null })
      .onConflict((oc) => oc.doNothing())
      .returning('entered_at')
      .executeTakeFirst()
    let entered = inserted !== undefined
    if (entered && state.opened) {
      await tx
        .updateTable('queue_entries')
        .set({ seq })
        .where('schedule_id', '=', scheduleId)
        .where('user_id', '=', userId)
        .execute()
    }
    if (!entered) {
      // Someone still waiting, or admitted and within their window, keeps their place; others go to the back.
      const requeued = await tx
        .updateTable('queue_entries')
        .set({
          seq,
          status: 'waiting',
          entered_at: sql`clock_timestamp()`,
          admitted_at: null,
          admitted_until: null,
        })
        .where('schedule_id', '=', scheduleId)
        .where('user_id', '=', userId)
        .where((eb) =>
          eb.or([
            eb('status', 'in', ['left', 'completed']),
            eb.and([eb('status', '=', 'admitted'), eb('admitted_until', '<=', sql<Date>`now()`)]),
          ]),
        )
        .returning('entered_at')
        .executeTakeFirst()
      entered = requeued !== undefined
    }
    if (entered) {
      await appendToOutbox(tx, [
        buildEvent('queue.entered', `${scheduleId}:${userId}`, {
          scheduleId,
          userId,
          preQueue: !state.opened,
          enteredAt: new Date().toISOString(),
        }),
      ])
    }
    return { entered }
  })
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

export async function leaveQueue(db: Db, scheduleId: string, userId: string): Promise<boolean> {
  const result = await db
    .updateTable('queue_entries')
    .set({ status: 'left' })
    .where('schedule_id', '=', scheduleId)
    .where('user_id', '=', userId)
    .where('status', 'in', ['waiting', 'admitted'])
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/** Frees the buyer's admission slot in the payment's transaction. */
export async function completeQueueEntry(tx: Db, scheduleId: string, userId: string): Promise<void> {
  await tx
    .updateTable('queue_entries')
    .set({ status: 'completed' })
    .where('schedule_id', '=', scheduleId)
    .where('user_id', '=', userId)
    .where('status', '=', 'admitted')
    .execute()
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

/** Draws the places of everyone who queued before opening, in random order, after anyone already placed. */
async function drawPreQueue(tx: Tx, scheduleId: string, sequenceName: string): Promise<number> {
  const result = await sql`
    update queue_entries q set seq = drawn.seq
    from (
      select user_id, nextval(${sequenceName}::regclass) as seq
      from (select user_id from queue_entries
            where schedule_id = ${scheduleId} and seq is null and status = 'waiting'
            order by random()) shuffled
    ) drawn
    where q.schedule_id = ${scheduleId} and q.user_id = drawn.user_id`.execute(tx)
  return Number(result.numAffectedRows ?? 0)
}

/**
 * One admission round for every schedule: opens sales whose time has come (drawing the pre-queue), then admits
 * fans in order within capacity and rate. One instance at a time runs it (transaction-scoped advisory lock).
 */
export async function admitTick(
  db: Db,
  settings: QueueSettings,
): Promise<{ ran: boolean; admitted: { scheduleId: string; userId: string; seq: number }[] }> {
  return db.transaction().execute(async (tx) => {
    const lock = await sql<{
      ok: boolean
    }>`select pg_try_advisory_xact_lock(${ADMISSION_LOCK}) as ok`.execute(tx)
    if (!lock.rows[0]?.ok) return { ran: false, admitted: [] }
    const due = await tx
      .selectFrom('queue_state as q')
      .innerJoin('schedules as s', 's.id', 'q.schedule_id')
      .select([
        'q.schedule_id',
        'q.sequence_name',
        'q.opened',
        'q.admit_credit',
        sql<number>`extract(epoch from (now() - coalesce(q.last_tick_at, now())))::float8`.as('elapsed'),
      ])
      .where('s.sale_opens_at', '<=', sql<Date>`now()`)
      .where((eb) =>
        eb.or([
          eb('q.opened', '=', false),
          eb.exists(
            eb
              .selectFrom('queue_entries as e')
              .select('e.user_id')
              .whereRef('e.schedule_id', '=', 'q.schedule_id')
              .where('e.status', '=', 'waiting'),
          ),
        ]),
      )
      .execute()
    const admitted: { scheduleId: string; userId: string; seq: number }[] = []
    for (const q of due) {
      await drawPreQueue(tx, q.schedule_id, q.sequence_name)
      const { active } = await tx
        .selectFrom('queue_entries')
        .select(sql<number>`count(*)::int`.as('active'))
        .where('schedule_id', '=', q.schedule_id)
        .where('status', '=', 'admitted')
        .where('admitted_until', '>', sql<Date>`now()`)
        .executeTakeFirstOrThrow()
      const budget = admissionBudget({
        credit: q.admit_credit,
        ratePerSecond: settings.ratePerSecond,
        elapsedSeconds: q.opened ? q.elapsed : 0,
        maxActive: settings.maxActive,
        active,
      })
      // The first round after opening starts with one second of credit so the line moves at once.
      const admit = q.opened
        ? budget.admit
        : Math.min(settings.maxActive - active, Math.ceil(settings.ratePerSecond))
      const rows =
        admit > 0
          ? await sql<{ user_id: string; seq: number; admitted_until: Date }>`
        update queue_entries q set status = 'admitted', admitted_at = now(),
               admitted_until = now() + make_interval(secs => ${settings.admittedTtlSeconds})
        from (select user_id from queue_entries
              where schedule_id = ${q.schedule_id} and status = 'waiting' and seq is not null
              order by seq limit ${admit}) nxt
        where q.schedule_id = ${q.schedule_id} and q.user_id = nxt.user_id
        returning q.user_id, q.seq, q.admitted_until`.execute(tx)
          : { rows: [] }
      const through = rows.rows.reduce((m, r) => Math.max(m, r.seq), 0)
      await tx
        .updateTable('queue_state')
        .set((eb) => ({
          opened: true,
          admit_credit: q.opened ? budget.credit : 0,
          last_tick_at: sql`now()`,
          admitted_through: sql`greatest(${eb.ref('admitted_through')}, ${through})`,
        }))
        .where('schedule_id', '=', q.schedule_id)
        .execute()
      await appendToOutbox(
        tx,
        rows.rows.map((r) =>
          buildEvent('queue.admitted', `${q.schedule_id}:${r.user_id}`, {
            scheduleId: q.schedule_id,
            userId: r.user_id,
            seq: r.seq,
            admittedUntil: r.admitted_until.toISOString(),
          }),
        ),
      )
      for (const r of rows.rows) admitted.push({ scheduleId: q.schedule_id, userId: r.user_id, seq: r.seq })
    }
    return { ran: true, admitted }
  })
}

/** Advisory lock key owned by whichever instance runs admission now. */
const ADMISSION_LOCK = 727_001
