import type { SeatBoard } from '../booking/seat-board.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import { requestHash } from '../platform/idempotency.ts'
import { groupCommitted, setBasedRoutine } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'
import type { QueueWatch } from '../queue/queue-watch.ts'

export interface PaymentReceipt {
  paymentId: string
  reservationId: string
  scheduleId: string
  seatId: string
  seatLabel: string
  price: number
  discount: number
  amount: number
  couponId: string | null
  balance: number
  confirmedAt: string
}

/**
 * Pays a live hold with points, once per Idempotency-Key, in one round trip: a replay of the same request answers
 * the first receipt, the same key with another request is refused. Paying the fan's last live hold of the schedule
 * spends their admission (the queue token stops working on every instance).
 */
export async function payReservation(
  deps: { database: DatabaseHandle; board: SeatBoard; watch: QueueWatch },
  input: {
    reservationId: string
    userId: string
    /** The schedule the fan's queue token admits to. */
    scheduleId: string
    couponId: string | null
    idempotencyKey: string
  },
): Promise<{ status: number; body: PaymentReceipt; replayed: boolean }> {
  const result = await payments.call(deps.database, [
    input.userId,
    input.reservationId,
    input.scheduleId,
    input.couponId,
    input.idempotencyKey,
    requestHash(input.couponId ? { couponId: input.couponId } : {}),
  ])
  const { replayed, status, receipt, spentSeq } = result
  deps.board.recordSold(receipt.scheduleId, receipt.seatId)
  // This instance refuses the spent admission's token at once; the others read the revocation shortly.
  if (spentSeq !== undefined) deps.watch.revoke(receipt.scheduleId, input.userId, spentSeq)
  return { status, body: receipt, replayed }
}

/**
 * A batch's plain payments together, one statement per step for all of them (see batchRoutineSql): the items
 * without a coupon whose fan and reservation are in no other item, whose reservation is still held by the fan for
 * the token's schedule, whose entry is admitted and whose wallet covers the price. Each is what pay_reservation
 * does for it, in its lock order (queue entries, seats, reservations, wallets); the rest are left to it (null).
 * It raises when a row it read turned out otherwise under its lock (a seat expired meanwhile, a wallet spent):
 * the batch then undoes this pass and runs every item alone.
 */
export const payReservationsTogetherRoutine: Routine = setBasedRoutine(
  'pay_reservations_together',
  `p_users uuid[], p_reservations uuid[], p_schedules uuid[], p_coupons uuid[], p_keys text[], p_hashes text[]`,
  `v_plain integer[];
    v_item integer[];
    v_seat uuid[];
    v_price integer[];
    v_label text[];
    v_concert uuid[];
    v_seq bigint[];
    v_balance integer[];
    v_at timestamptz;
    v_count integer;`,
  `
    select coalesce(array_agg(i order by i), '{}') into v_plain
      from (select i, c, count(*) over (partition by u) as per_fan, count(*) over (partition by r) as per_reservation
              from unnest(p_users, p_reservations, p_coupons) with ordinality as t(u, r, c, i)) x
     where c is null and per_fan = 1 and per_reservation = 1;
    if cardinality(v_plain) < 2 then
      return v_done;
    end if;
    -- The fans' entries first, in key order, then the reservations are read (in a statement of their own, so
    -- that a payment of the same fan committed meanwhile is seen).
    perform 1 from queue_entries q join unnest(v_plain) as k(i)
        on q.schedule_id = p_schedules[k.i] and q.user_id = p_users[k.i]
     order by q.schedule_id, q.user_id for no key update of q;
    -- The conditions are aggregate filters, not a WHERE: a WHERE saying status = 'held' lets the planner take the
    -- partial index of every held reservation (see pay_reservation).
    select array_agg(k.i order by k.i) filter (where ok), array_agg(res.seat_id order by k.i) filter (where ok),
           array_agg(res.price order by k.i) filter (where ok), array_agg(s.label order by k.i) filter (where ok),
           array_agg(sc.concert_id order by k.i) filter (where ok), array_agg(q.seq order by k.i) filter (where ok)
      into v_item, v_seat, v_price, v_label, v_concert, v_seq
      from unnest(v_plain) as k(i)
      join reservations res on res.id = p_reservations[k.i]
      join seats s on s.id = res.seat_id
      join schedules sc on sc.id = res.schedule_id
      join queue_entries q on q.schedule_id = p_schedules[k.i] and q.user_id = p_users[k.i]
      join wallets w on w.user_id = p_users[k.i]
      cross join lateral (select res.user_id = p_users[k.i] and res.schedule_id = p_schedules[k.i]
             and res.status = 'held' and res.expires_at > clock_timestamp() and q.status = 'admitted'
             and w.balance >= res.price as ok) as checked;
    if coalesce(cardinality(v_item), 0) < 2 then
      return v_done;
    end if;

    v_at := clock_timestamp();
    update seats s set status = 'sold', held_until = null
      from unnest(v_seat, v_item) as t(seat, i)
     where s.id = t.seat and s.reservation_id = p_reservations[t.i] and s.status = 'held' and s.held_until > v_at;
    get diagnostics v_count = row_count;
    if v_count <> cardinality(v_item) then
      raise exception 'a seat is no longer held';
    end if;
    update reservations set status = 'confirmed', confirmed_at = v_at
     where id in (select p_reservations[i] from unnest(v_item) as k(i));
    with debited as (
      update wallets w set balance = w.balance - t.price, updated_at = now()
        from unnest(v_item, v_price) as t(i, price)
       where w.user_id = p_users[t.i] and w.balance >= t.price
      returning w.user_id, w.balance)
    select array_agg(d.balance order by t.n) into v_balance
      from unnest(v_item) with ordinality as t(i, n) join debited d on d.user_id = p_users[t.i];
    if coalesce(cardinality(v_balance), 0) <> cardinality(v_item) then
      raise exception 'a wallet no longer covers its payment';
    end if;

    with paid as (
      select t.n, t.i, p_users[t.i] as user_id, p_reservations[t.i] as reservation_id,
             p_schedules[t.i] as schedule_id, t.seat, t.price, t.label, t.concert, t.seq, t.balance,
             uuid_v7() as payment_id, uuid_v7() as event_id,
             -- The admission is spent once the fan holds nothing more (counted by the (schedule, user) index, as
             -- pay_reservation does: this batch's reservations are confirmed by now).
             (select count(*) filter (where r.status = 'held' and r.expires_at > now()) from reservations r
               where r.schedule_id = p_schedules[t.i] and r.user_id = p_users[t.i]) = 0 as spent
        from unnest(v_item, v_seat, v_price, v_label, v_concert, v_seq, v_balance)
             with ordinality as t(i, seat, price, label, concert, seq, balance, n)),
    receipts as (
      select p.*, jsonb_build_object('paymentId', p.payment_id, 'reservationId', p.reservation_id,
               'scheduleId', p.schedule_id, 'seatId', p.seat, 'seatLabel', p.label, 'price', p.price,
               'discount', 0, 'amount', p.price, 'couponId', null, 'balance', p.balance,
               'confirmedAt', iso_time(v_at)) as receipt
        from paid p),
    ledger as (
      insert into wallet_ledger (user_id, amount, kind, reference, balance_after)
      select user_id, -price, 'payment', 'payment:' || payment_id, balance from receipts where price > 0 order by n),
    payment_rows as (
      insert into payments (id, reservation_id, user_id, price, discount, amount, user_coupon_id)
      select payment_id, reservation_id, user_id, price, 0, price, null from receipts order by n),
    completed as (
      update queue_entries q set status = 'completed' from receipts r
       where r.spent and q.schedule_id = r.schedule_id and q.user_id = r.user_id),
    revoked as (
      insert into queue_revocations (schedule_id, user_id, entry_seq, reason)
      select schedule_id, user_id, seq, 'paid' from receipts where spent order by n),
    events as (
      insert into outbox (id, topic, key, event)
      select event_id, 'reservation.confirmed', reservation_id::text,
             cloud_event(event_id, 'reservation.confirmed', reservation_id::text,
               (receipt - 'balance') || jsonb_build_object('concertId', concert, 'userId', user_id))
        from receipts order by n),
    keys as (
      insert into idempotency_keys (user_id, scope, key, request_hash, status_code, response)
      select user_id, 'payment:' || reservation_id, p_keys[i], p_hashes[i], 201, receipt
        from receipts order by n)
    select array_agg(jsonb_build_object('i', i, 'answer',
             jsonb_build_object('replayed', false, 'status', 201, 'receipt', receipt)
             || case when spent then jsonb_build_object('spentSeq', seq) else '{}'::jsonb end))
      into v_results from receipts;`,
)

/** Payments of the same moment share one transaction and round trip (GroupCommit). */
const payments = groupCommitted<{
  replayed: boolean
  status: number
  receipt: PaymentReceipt
  spentSeq?: number | null
}>('pay_reservation', ['uuid', 'uuid', 'uuid', 'uuid', 'text', 'text'], {
  setBased: payReservationsTogetherRoutine,
})
export const payReservationBatchRoutine: Routine = payments.batchRoutine

/** A coupon's discount on a price: never more than the price, percentages rounded down. */
export const couponDiscountRoutine: Routine = routine(
  'coupon_discount',
  `create or replace function coupon_discount(p_price integer, p_type text, p_value integer) returns integer
   language sql immutable as $$
    select greatest(0, least(p_price, case when p_type = 'fixed' then p_value else (p_price::bigint * p_value / 100)::integer end)) $$`,
)

export const payReservationRoutine: Routine = routine(
  'pay_reservation',
  `create or replace function pay_reservation(p_user uuid, p_reservation uuid, p_schedule uuid, p_coupon uuid,
     p_key text, p_request_hash text) returns jsonb language plpgsql as $$
  declare
    v_scope text := 'payment:' || p_reservation;
    v_stored record;
    r record;
    v_entry record;
    v_at timestamptz;
    v_coupon record;
    v_user_coupon uuid;
    v_discount integer := 0;
    v_amount integer;
    v_balance integer;
    v_payment uuid := uuid_v7();
    v_receipt jsonb;
    v_spent boolean := false;
  begin
    -- Lock order: queue entry, seat, reservation, user coupon, wallet. The fan's entry for the token's schedule is
    -- locked first, then the reservation is read: a concurrent payment of the fan has committed by then.
    select status, seq into v_entry from queue_entries
     where schedule_id = p_schedule and user_id = p_user for no key update;
    select res.id, res.schedule_id, res.seat_id, res.user_id, res.price, res.status, res.expires_at, s.label,
           sc.concert_id
      into r from reservations res join seats s on s.id = res.seat_id join schedules sc on sc.id = res.schedule_id
     where res.id = p_reservation;
    if not found then
      raise exception 'RESERVATION_NOT_FOUND';
    end if;
    if r.user_id <> p_user then
      raise exception 'FORBIDDEN' using detail = 'This reservation belongs to someone else.';
    end if;
    if r.schedule_id <> p_schedule then
      raise exception 'QUEUE_NOT_ADMITTED' using detail = 'The queue token is for another schedule than this reservation.';
    end if;
    -- A payment stores its Idempotency-Key with the receipt, once, at the end. A reservation no longer held may
    -- have been paid under this key: the request is then a replay (sent again, or a duplicate that waited on the
    -- queue entry above while the first one paid), and answers the stored receipt.
    if r.status <> 'held' then
      select request_hash, status_code, response into v_stored from idempotency_keys
       where user_id = p_user and scope = v_scope and key = p_key;
      if found then
        if v_stored.request_hash <> p_request_hash then
          raise exception 'IDEMPOTENCY_KEY_REUSED';
        end if;
        return jsonb_build_object('replayed', true, 'status', coalesce(v_stored.status_code, 200), 'receipt', v_stored.response);
      end if;
      if r.status = 'expired' then
        raise exception 'HOLD_EXPIRED';
      end if;
      raise exception 'RESERVATION_NOT_PAYABLE';
    end if;
    if r.expires_at <= clock_timestamp() then
      raise exception 'HOLD_EXPIRED';
    end if;
    if v_entry.status in ('completed', 'left') then
      raise exception 'QUEUE_TOKEN_REVOKED';
    end if;
    if v_entry.status is distinct from 'admitted' then
      raise exception 'QUEUE_NOT_ADMITTED' using detail = 'You are not admitted to this schedule.';
    end if;
    -- The seat row is the arbiter against a takeover or an expiry: still ours and live, checked under its row lock
    -- against one reading of the clock, which is the payment time (a second reading in RETURNING could fall past
    -- the deadline the first one was checked against).
    v_at := clock_timestamp();
    update seats set status = 'sold', held_until = null
     where id = r.seat_id and reservation_id = p_reservation and status = 'held' and held_until > v_at;
    if not found then
      raise exception 'HOLD_EXPIRED';
    end if;
    -- Still held: the seat row, locked above and still ours, is released before its reservation ends (expiry and
    -- cancellation lock the seat first). No status test here: a WHERE that says status = 'held' lets the planner take
    -- the partial index of every held reservation, which stale statistics make look empty.
    update reservations set status = 'confirmed', confirmed_at = v_at where id = p_reservation;

    if p_coupon is not null then
      update user_coupons uc set status = 'used', used_at = now(), used_by_reservation_id = p_reservation
        from coupons c
       where uc.coupon_id = p_coupon and uc.user_id = p_user and uc.status = 'available' and c.id = uc.coupon_id
      returning uc.id, c.discount_type, c.discount_value into v_coupon;
      if not found then
        if exists (select 1 from user_coupons where coupon_id = p_coupon and user_id = p_user) then
          raise exception 'COUPON_ALREADY_USED';
        end if;
        raise exception 'COUPON_NOT_OWNED';
      end if;
      v_user_coupon := v_coupon.id;
      v_discount := coupon_discount(r.price, v_coupon.discount_type, v_coupon.discount_value);
    end if;
    v_amount := r.price - v_discount;

    update wallets set balance = balance - v_amount, updated_at = now()
     where user_id = p_user and balance >= v_amount returning balance into v_balance;
    if not found then
      raise exception 'INSUFFICIENT_POINTS';
    end if;
    if v_amount > 0 then
      insert into wallet_ledger (user_id, amount, kind, reference, balance_after)
      values (p_user, -v_amount, 'payment', 'payment:' || v_payment, v_balance);
    end if;
    insert into payments (id, reservation_id, user_id, price, discount, amount, user_coupon_id)
    values (v_payment, p_reservation, p_user, r.price, v_discount, v_amount, v_user_coupon);

    -- The admission is spent once the fan holds nothing more to pay for. The fan's reservations are read by their
    -- (schedule, user) index and the live holds counted among them: with status = 'held' in the WHERE, the planner
    -- may take the partial index of all held reservations once statistics see a sale's thousands of holds, and every
    -- payment then reads every hold of the sale (0.2 ms instead of 0.01).
    if (select count(*) filter (where status = 'held' and expires_at > now() and id <> p_reservation)
          from reservations where schedule_id = r.schedule_id and user_id = p_user) = 0 then
      update queue_entries set status = 'completed' where schedule_id = r.schedule_id and user_id = p_user;
      insert into queue_revocations (schedule_id, user_id, entry_seq, reason)
      values (r.schedule_id, p_user, v_entry.seq, 'paid');
      v_spent := true;
    end if;

    v_receipt := jsonb_build_object('paymentId', v_payment, 'reservationId', p_reservation,
      'scheduleId', r.schedule_id, 'seatId', r.seat_id, 'seatLabel', r.label, 'price', r.price,
      'discount', v_discount, 'amount', v_amount, 'couponId', p_coupon, 'balance', v_balance,
      'confirmedAt', iso_time(v_at));
    perform outbox_append('reservation.confirmed', p_reservation::text,
      (v_receipt - 'balance') || jsonb_build_object('concertId', r.concert_id, 'userId', p_user));
    insert into idempotency_keys (user_id, scope, key, request_hash, status_code, response)
    values (p_user, v_scope, p_key, p_request_hash, 201, v_receipt);
    return jsonb_build_object('replayed', false, 'status', 201, 'receipt', v_receipt)
      || case when v_spent then jsonb_build_object('spentSeq', v_entry.seq) else '{}'::jsonb end;
  end $$`,
)
