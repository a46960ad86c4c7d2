import type { TransactionHandler } from '../events/index.ts'
import { decideCouponRequests } from './decide-coupon-requests.ts'

/** First-come issuance: requests of one coupon arrive in order (the coupon id is the key) and are decided in batches. */
export function couponIssuanceHandler(): TransactionHandler<'coupon.issue-requested'> {
  return {
    group: 'coupon-issuance',
    topic: 'coupon.issue-requested',
    async handle(event, { tx }) {
      await decideCouponRequests(tx, event.data.couponId)
    },
  }
}
