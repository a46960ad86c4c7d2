import { sql } from 'kysely'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import { tryXactLock } from '../platform/advisory-locks.ts'
import type { Db, Tx } from '../platform/db.ts'
import { admissionBudget } from './queue-rules.ts'
import type { QueueSettings } from './queue-sql.ts'

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
export async function runAdmissionRound(
  db: Db,
  settings: QueueSettings,
): Promise<{
  ran: boolean
  admitted: { scheduleId: string; userId: string; seq: number }[]
  /** Per schedule opened or moved in this round, how far its line is admitted now. */
  admittedThrough: Map<string, number>
}> {
  return db.transaction().execute(async (tx) => {
    if (!(await tryXactLock(tx, 'admission'))) return { ran: false, admitted: [], admittedThrough: new Map() }
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
    const admittedThrough = new Map<string, number>()
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
      const state = await tx
        .updateTable('queue_state')
        .set((eb) => ({
          opened: true,
          admit_credit: q.opened ? budget.credit : 0,
          last_tick_at: sql`now()`,
          admitted_through: sql`greatest(${eb.ref('admitted_through')}, ${through})`,
        }))
        .where('schedule_id', '=', q.schedule_id)
        .returning('admitted_through')
        .executeTakeFirstOrThrow()
      admittedThrough.set(q.schedule_id, state.admitted_through)
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
    return { ran: true, admitted, admittedThrough }
  })
}
