import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'

export type WaitlistStatus = 'waiting' | 'offered' | 'accepted' | 'lapsed' | 'left'

export interface WaitlistOfferView {
  offerId: string
  seatId: string
  seatLabel: string
  price: number
  expiresAt: string
}

export interface WaitlistEntryView {
  userId: string
  status: WaitlistStatus
  /** 1 for the next fan to be offered a seat; null unless waiting. */
  position: number | null
  joinedAt: string
  offer: WaitlistOfferView | null
}

function entryQuery(db: Db, scheduleId: string) {
  return db
    .selectFrom('waitlist_entries as w')
    .leftJoin('waitlist_offers as o', (join) =>
      join
        .onRef('o.schedule_id', '=', 'w.schedule_id')
        .onRef('o.user_id', '=', 'w.user_id')
        .on('o.status', '=', 'open'),
    )
    .leftJoin('seats as s', 's.id', 'o.seat_id')
    .select([
      'w.user_id',
      'w.status',
      'w.joined_at',
      sql<number | null>`case when w.status = 'waiting' then (select count(*)::int from waitlist_entries a
        where a.schedule_id = w.schedule_id and a.status = 'waiting' and a.seq <= w.seq) end`.as('position'),
      'o.id as offer_id',
      'o.seat_id',
      's.label',
      's.price',
      'o.expires_at',
    ])
    .where('w.schedule_id', '=', scheduleId)
}

type EntryRow = Awaited<ReturnType<ReturnType<typeof entryQuery>['executeTakeFirstOrThrow']>>

function toView(r: EntryRow): WaitlistEntryView {
  return {
    userId: r.user_id,
    status: r.status,
    position: r.position,
    joinedAt: r.joined_at.toISOString(),
    offer:
      r.offer_id && r.seat_id && r.expires_at
        ? {
            offerId: r.offer_id,
            seatId: r.seat_id,
            seatLabel: r.label ?? '',
            price: r.price ?? 0,
            expiresAt: r.expires_at.toISOString(),
          }
        : null,
  }
}

export async function readWaitlistEntry(
  db: Db,
  scheduleId: string,
  userId: string,
): Promise<WaitlistEntryView> {
  const row = await entryQuery(db, scheduleId).where('w.user_id', '=', userId).executeTakeFirst()
  if (!row) throw new AppError('WAITLIST_ENTRY_NOT_FOUND')
  return toView(row)
}

/** The list in order of joining: fans still waiting first (in their order), then everyone else, newest last. */
export async function listWaitlist(
  db: Db,
  scheduleId: string,
  options: { limit: number; status?: WaitlistStatus | undefined },
): Promise<WaitlistEntryView[]> {
  let query = entryQuery(db, scheduleId).orderBy('w.seq').limit(options.limit)
  if (options.status) query = query.where('w.status', '=', options.status)
  return (await query.execute()).map(toView)
}

export async function waitlistCounts(db: Db, scheduleId: string): Promise<Record<WaitlistStatus, number>> {
  const schedule = await db
    .selectFrom('schedules')
    .select('id')
    .where('id', '=', scheduleId)
    .executeTakeFirst()
  if (!schedule) throw new AppError('SCHEDULE_NOT_FOUND')
  const rows = await db
    .selectFrom('waitlist_entries')
    .select(['status', sql<number>`count(*)::int`.as('n')])
    .where('schedule_id', '=', scheduleId)
    .groupBy('status')
    .execute()
  const counts: Record<WaitlistStatus, number> = { waiting: 0, offered: 0, accepted: 0, lapsed: 0, left: 0 }
  for (const r of rows) counts[r.status] = r.n
  return counts
}

/** The fan's admission to the schedule (an offer grants one), to sign their queue token. */
export async function readAdmission(db: Db, scheduleId: string, userId: string) {
  return db
    .selectFrom('queue_entries')
    .select(['seq', 'admitted_until'])
    .where('schedule_id', '=', scheduleId)
    .where('user_id', '=', userId)
    .where('status', '=', 'admitted')
    .where('admitted_until', '>', sql<Date>`now()`)
    .executeTakeFirst()
}
