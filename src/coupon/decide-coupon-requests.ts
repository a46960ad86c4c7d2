import { sql } from 'kysely'
import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { uuidv7 } from '../platform/ids.ts'

/** Pending requests one decision takes, at the least. */
const DECISION_BATCH = 1000

/**
 * Decides pending requests for one coupon in arrival order, a batch at a time: the first ones while stock lasts
 * are issued, the rest rejected as sold out, one already-owner rejected as a duplicate. Whichever events trigger
 * it, it takes the earliest pending requests, at least as many as `events` (the decision events it answers), so
 * every request's event leaves it decided or decides it; a burst is settled in a few transactions. Two decisions
 * of one coupon at once wait on each other's pending rows and take them in sequence.
 */
export async function decideCouponRequests(tx: Db, couponId: string, events = 1): Promise<number> {
  const pending = await sql<{ id: string; user_id: string }>`
    select id, user_id from coupon_requests
    where coupon_id = ${couponId} and status = 'pending'
    order by seq limit ${Math.max(DECISION_BATCH, events)} for update`.execute(tx)
  if (pending.rows.length === 0) return 0
  const stock = await tx
    .selectFrom('coupons')
    .select(['total_quantity', 'issued_count'])
    .where('id', '=', couponId)
    // FOR NO KEY UPDATE, not FOR UPDATE: decisions of one coupon still take turns, while the fans' new requests
    // (whose foreign key takes FOR KEY SHARE on this row) go on beside a decision instead of waiting for it.
    .forNoKeyUpdate()
    .executeTakeFirstOrThrow()
  const owners = new Set(
    (
      await tx
        .selectFrom('user_coupons')
        .select('user_id')
        .where('coupon_id', '=', couponId)
        .where(
          'user_id',
          'in',
          pending.rows.map((r) => r.user_id),
        )
        .execute()
    ).map((r) => r.user_id),
  )
  let left = stock.total_quantity - stock.issued_count
  const issued: { requestId: string; userId: string; userCouponId: string }[] = []
  const rejected: { requestId: string; userId: string; reason: string }[] = []
  for (const r of pending.rows) {
    if (owners.has(r.user_id)) rejected.push({ requestId: r.id, userId: r.user_id, reason: 'ALREADY_OWNED' })
    else if (left > 0) {
      issued.push({ requestId: r.id, userId: r.user_id, userCouponId: uuidv7() })
      owners.add(r.user_id)
      left--
    } else rejected.push({ requestId: r.id, userId: r.user_id, reason: 'SOLD_OUT' })
  }
  if (issued.length > 0) {
    // The CHECK on issued_count <= total_quantity and UNIQUE (coupon_id, user_id) still guard against any bug here.
    await tx
      .updateTable('coupons')
      .set((eb) => ({ issued_count: eb('issued_count', '+', issued.length) }))
      .where('id', '=', couponId)
      .execute()
    await tx
      .insertInto('user_coupons')
      .values(issued.map((i) => ({ id: i.userCouponId, coupon_id: couponId, user_id: i.userId })))
      .execute()
    await sql`
      update coupon_requests r set status = 'issued', decided_at = now(), user_coupon_id = d.user_coupon_id
      from unnest(${issued.map((i) => i.requestId)}::uuid[], ${issued.map((i) => i.userCouponId)}::uuid[])
        as d(id, user_coupon_id)
      where r.id = d.id`.execute(tx)
  }
  if (rejected.length > 0) {
    await sql`
      update coupon_requests r set status = 'rejected', decided_at = now(), reason = d.reason
      from unnest(${rejected.map((i) => i.requestId)}::uuid[], ${rejected.map((i) => i.reason)}::text[]) as d(id, reason)
      where r.id = d.id`.execute(tx)
  }
  const now = new Date().toISOString()
  await appendToOutbox(tx, [
    ...issued.map((i) =>
      buildEvent('coupon.issued', i.requestId, {
        requestId: i.requestId,
        couponId,
        userId: i.userId,
        userCouponId: i.userCouponId,
        issuedAt: now,
      }),
    ),
    ...rejected.map((r) =>
      buildEvent('coupon.rejected', r.requestId, {
        requestId: r.requestId,
        couponId,
        userId: r.userId,
        reason: r.reason,
        decidedAt: now,
      }),
    ),
  ])
  return pending.rows.length
}
