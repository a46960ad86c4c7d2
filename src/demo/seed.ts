import { insertAccount } from '../auth/create-account.ts'
import type { PasswordHasher } from '../auth/passwords.ts'
import { insertConcert, insertSchedule } from '../catalog/catalog-sql.ts'
import { insertCoupon, issueCoupon } from '../coupon/coupons-sql.ts'
import type { Db } from '../platform/db.ts'
import { prepareQueue } from '../queue/queue-sql.ts'
import { chargePoints } from '../wallet/charge-points.ts'

export const DEMO_PASSWORD = 'demo-password'

/** Seeds a demo concert (two schedules of 50 seats), ten fans with points and a coupon, once per database. */
export async function seedDemo(
  db: Db,
  passwords: PasswordHasher,
): Promise<{ created: boolean; summary: Record<string, unknown> }> {
  const existing = await db
    .selectFrom('users')
    .select('id')
    .where('email', '=', 'fan1@demo.test')
    .executeTakeFirst()
  if (existing) return { created: false, summary: {} }
  const users: { id: string; email: string }[] = []
  // One hash for the ten: the password is public anyway, and ten at full cost would hold up the start for seconds.
  const passwordHash = await passwords.hash(DEMO_PASSWORD)
  for (let i = 1; i <= 10; i++) {
    users.push(await insertAccount(db, { email: `fan${i}@demo.test`, name: `Demo Fan ${i}`, passwordHash }))
  }
  const now = Date.now()
  const result = await db.transaction().execute(async (tx) => {
    const concert = await insertConcert(tx, {
      title: 'Midnight Aurora Live',
      artist: 'Aurora Park',
      venue: 'Olympic Hall',
    })
    const schedules = []
    for (const [days, opensInMinutes] of [
      [14, 0],
      [15, 2],
    ] as const) {
      const schedule = await insertSchedule(tx, {
        concertId: concert.id,
        startsAt: new Date(now + days * 86_400_000),
        saleOpensAt: new Date(now + opensInMinutes * 60_000),
        seats: [
          { grade: 'VIP', price: 150_000, count: 10 },
          { grade: 'R', price: 110_000, count: 20 },
          { grade: 'S', price: 80_000, count: 20 },
        ],
      })
      await prepareQueue(tx, schedule.id)
      schedules.push(schedule.id)
    }
    for (const user of users) await chargePoints(tx, user.id, 500_000, 'demo grant')
    const coupon = await insertCoupon(tx, {
      name: 'Opening day 10% off',
      discountType: 'percent',
      discountValue: 10,
      totalQuantity: 100,
    })
    for (const user of users.slice(0, 3)) await issueCoupon(tx, coupon.id, user.id)
    return { concertId: concert.id, scheduleIds: schedules, couponId: coupon.id }
  })
  return {
    created: true,
    summary: { ...result, users: users.map((u) => u.email), password: DEMO_PASSWORD },
  }
}
