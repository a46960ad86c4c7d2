import type { DatabaseHandle } from '../platform/db.ts'
import { groupCommitted } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'
import type { CouponRequest } from './coupons-sql.ts'

/**
 * Records a first-come request and its coupon.issue-requested event in one round trip; answers at once. One request
 * per user and coupon: asking again returns the first request. Requests of the same moment share a transaction
 * (GroupCommit), in the order they arrived.
 */
export async function requestCoupon(
  database: DatabaseHandle,
  couponId: string,
  userId: string,
): Promise<{ request: CouponRequest; created: boolean }> {
  return requests.call(database, [couponId, userId])
}

/** Requests of the same moment share one transaction and round trip (GroupCommit). */
const requests = groupCommitted<{ request: CouponRequest; created: boolean }>('request_coupon', [
  'uuid',
  'uuid',
])
export const requestCouponBatchRoutine: Routine = requests.batchRoutine

export const requestCouponRoutine: Routine = routine(
  'request_coupon',
  `create or replace function request_coupon(p_coupon uuid, p_user uuid) returns jsonb language plpgsql as $$
  declare
    v_id uuid := uuid_v7();
    r coupon_requests;
    v_created boolean := false;
  begin
    perform 1 from coupons where id = p_coupon;
    if not found then
      raise exception 'COUPON_NOT_FOUND';
    end if;
    insert into coupon_requests (id, coupon_id, user_id) values (v_id, p_coupon, p_user)
      on conflict (coupon_id, user_id) do nothing
      returning * into r;
    if found then
      v_created := true;
      -- Keyed by the coupon: its requests reach the deciding handler one after the other, in arrival order.
      perform outbox_append('coupon.issue-requested', p_coupon::text, jsonb_build_object(
        'requestId', r.id, 'couponId', p_coupon, 'userId', p_user, 'requestedAt', iso_time(r.requested_at)));
    else
      select * into r from coupon_requests where coupon_id = p_coupon and user_id = p_user;
    end if;
    return jsonb_build_object('created', v_created, 'request', jsonb_build_object(
      'requestId', r.id, 'couponId', r.coupon_id, 'userId', r.user_id, 'status', r.status, 'reason', r.reason,
      'requestedAt', iso_time(r.requested_at), 'decidedAt', iso_time(r.decided_at)));
  end $$`,
)
