import { sql } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import { createTokenService } from '../../src/auth/tokens.ts'
import { insertConcert, insertSchedule } from '../../src/catalog/catalog-sql.ts'
import type { Db } from '../../src/platform/db.ts'
import { prepareQueue } from '../../src/queue/queue-sql.ts'

export interface SeededFan {
  id: string
  token: string
  queueToken: string
}

/**
 * Inserts `count` users with `points` each straight into the database (sign-up's scrypt would dominate a
 * thousand-fan race), each already admitted to the schedule's waiting room (an admitted entry with its place), and
 * signs their access and queue tokens with the app's secret.
 */
export async function seedAdmittedFans(
  db: Db,
  options: {
    count: number
    points: number
    secret: string
    scheduleId: string
    queueTtlSeconds?: number
    /** false: users with points only, who will go through the real waiting room themselves. */
    admit?: boolean
  },
): Promise<SeededFan[]> {
  const tokens = createTokenService(options.secret, 3600)
  const expiresAt = new Date(Date.now() + (options.queueTtlSeconds ?? 600) * 1000)
  const fans = Array.from({ length: options.count }, () => ({ id: uuidv7() }))
  for (let i = 0; i < fans.length; i += 1000) {
    const chunk = fans.slice(i, i + 1000)
    await db
      .insertInto('users')
      .values(
        chunk.map((f) => ({ id: f.id, email: `${f.id}@seed.test`, name: 'seeded fan', password_hash: 'x' })),
      )
      .execute()
    await db
      .insertInto('wallets')
      .values(chunk.map((f) => ({ user_id: f.id, balance: 0 })))
      .execute()
    if (options.points > 0) {
      await db
        .updateTable('wallets')
        .set({ balance: options.points })
        .where(
          'user_id',
          'in',
          chunk.map((f) => f.id),
        )
        .execute()
      await db
        .insertInto('wallet_ledger')
        .values(
          chunk.map((f) => ({
            user_id: f.id,
            amount: options.points,
            kind: 'charge' as const,
            reference: 'seed',
            balance_after: options.points,
          })),
        )
        .execute()
    }
  }
  const seqs = new Map<string, number>()
  for (let i = 0; options.admit !== false && i < fans.length; i += 1000) {
    const chunk = fans.slice(i, i + 1000)
    const admitted = await sql<{ user_id: string; seq: number }>`
      insert into queue_entries (schedule_id, user_id, seq, status, admitted_at, admitted_until)
      select ${options.scheduleId}::uuid, u.id, nextval(s.sequence_name::regclass), 'admitted', now(), ${expiresAt}
        from unnest(${chunk.map((f) => f.id)}::uuid[]) with ordinality as u(id, n)
        join queue_state s on s.schedule_id = ${options.scheduleId}
       order by u.n
      returning user_id, seq`.execute(db)
    for (const r of admitted.rows) seqs.set(r.user_id, Number(r.seq))
  }
  return fans.map((f) => ({
    id: f.id,
    token: tokens.signAccess(f.id),
    queueToken: tokens.signQueue({
      userId: f.id,
      scheduleId: options.scheduleId,
      expiresAt,
      seq: seqs.get(f.id),
    }),
  }))
}

/**
 * A schedule on sale with `seats` seats of one price (in label order) and `fans` fans admitted to it, each with
 * `points`, seeded straight into the database.
 */
export async function seedSale(
  db: Db,
  options: { seats: number; fans: number; price: number; points: number },
): Promise<{ scheduleId: string; seats: string[]; fans: SeededFan[] }> {
  const concert = await insertConcert(db, { title: 'Seeded sale', artist: 'Probe', venue: 'Hall' })
  const schedule = await insertSchedule(db, {
    concertId: concert.id,
    startsAt: new Date(Date.now() + 86_400_000),
    saleOpensAt: new Date(),
    seats: [{ grade: 'R', price: options.price, count: options.seats }],
  })
  await db.transaction().execute((tx) => prepareQueue(tx, schedule.id))
  const fans = await seedAdmittedFans(db, {
    count: options.fans,
    points: options.points,
    secret: 's'.repeat(32),
    scheduleId: schedule.id,
  })
  const seats = await db
    .selectFrom('seats')
    .select('id')
    .where('schedule_id', '=', schedule.id)
    .orderBy('label')
    .execute()
  return { scheduleId: schedule.id, seats: seats.map((s) => s.id), fans }
}
