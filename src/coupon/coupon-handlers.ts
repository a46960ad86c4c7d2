import type { TransactionHandler } from '../events/index.ts'
import { decideCouponRequests } from './decide-coupon-requests.ts'

/**
 * First-come issuance: requests are decided in their arrival sequence, a batch at a time, whichever of their events
 * triggers the decision. So a coupon's events (all under its id) need not wait for each other: those in flight go
 * together, and a transaction decides each coupon once, for at least as many requests as it has events.
 */
export function couponIssuanceHandler(): TransactionHandler<'coupon.issue-requested'> {
  return {
    group: 'coupon-issuance',
    topic: 'coupon.issue-requested',
    inKeyOrder: false,
    async handle(event, { tx }) {
      await decideCouponRequests(tx, event.data.couponId)
    },
    async handleBatch(events, { tx }) {
      const perCoupon = new Map<string, number>()
      for (const e of events) perCoupon.set(e.data.couponId, (perCoupon.get(e.data.couponId) ?? 0) + 1)
      for (const [couponId, n] of perCoupon) await decideCouponRequests(tx, couponId, n)
    },
  }
}
