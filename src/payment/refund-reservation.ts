import { SEAT_RELEASED, type SeatBoard } from '../booking/seat-board.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import { execute, statement } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'

export interface RefundReceipt {
  reservationId: string
  paymentId: string
  scheduleId: string
  seatId: string
  seatLabel: string
  userId: string
  /** Points given back (what the payment took). */
  amount: number
  couponId: string | null
  couponRestored: boolean
  refundedBy: 'fan' | 'organizer'
  reason: string | null
  refundedAt: string
}

export type RefundRequest =
  | { by: 'fan'; userId: string; cutoffHours: number; reason: string | null }
  | { by: 'organizer'; restoreCoupon: boolean; reason: string | null }

/**
 * Refunds a paid reservation once, in one round trip: the seat goes back on sale (every instance forgets it as taken),
 * the reservation ends refunded, the points the payment took come back through one ledger entry of kind refund, the
 * coupon is restored when the organizer asks for it, and reservation.refunded is recorded. A fan may refund until
 * `cutoffHours` before the show and never restores a coupon (a used coupon stays spent); the organizer may refund at
 * any time and restores the coupon unless told not to. A second call, by anyone, answers the first refund.
 */
export async function refundReservation(
  deps: { database: DatabaseHandle; board: SeatBoard },
  reservationId: string,
  request: RefundRequest,
): Promise<{ receipt: RefundReceipt; replayed: boolean }> {
  const [row] = await execute<{ result: { replayed: boolean; receipt: RefundReceipt } }>(
    deps.database,
    refundStatement,
    [
      reservationId,
      request.by === 'fan' ? request.userId : null,
      request.by === 'fan' ? false : request.restoreCoupon,
      request.by === 'fan' ? request.cutoffHours : null,
      request.reason,
    ],
  )
  const { replayed, receipt } = row!.result
  deps.board.forget(receipt.seatId)
  return { receipt, replayed }
}

const refundStatement = statement(
  'refund_reservation',
  'select refund_reservation($1, $2, $3, $4, $5) as result',
)

export const refundReservationRoutine: Routine = routine(
  'refund_reservation',
  `create or replace function refund_reservation(p_reservation uuid, p_user uuid, p_restore_coupon boolean,
     p_cutoff_hours double precision, p_reason text) returns jsonb language plpgsql as $$
  declare
    r record;
    v_done jsonb;
    v_show record;
    v_pay record;
    v_at timestamptz := clock_timestamp();
    v_balance integer;
    v_restored boolean := false;
    v_by text := case when p_user is null then 'organizer' else 'fan' end;
    v_receipt jsonb;
  begin
    select res.id, res.schedule_id, res.seat_id, res.user_id, res.status, s.label
      into r from reservations res join seats s on s.id = res.seat_id where res.id = p_reservation;
    if not found then
      raise exception 'RESERVATION_NOT_FOUND';
    end if;
    if p_user is not null and r.user_id <> p_user then
      raise exception 'FORBIDDEN' using detail = 'This reservation belongs to someone else.';
    end if;
    select receipt into v_done from refunds where reservation_id = p_reservation;
    if found then
      return jsonb_build_object('replayed', true, 'receipt', v_done);
    end if;
    if r.status <> 'confirmed' then
      raise exception 'RESERVATION_NOT_REFUNDABLE' using detail = 'This reservation is ' || r.status || '.';
    end if;
    select starts_at, concert_id into v_show from schedules where id = r.schedule_id;
    if p_user is not null and v_at > v_show.starts_at - make_interval(secs => p_cutoff_hours * 3600) then
      raise exception 'REFUND_WINDOW_CLOSED' using detail = 'Refunds closed at '
        || iso_time(v_show.starts_at - make_interval(secs => p_cutoff_hours * 3600)) || '.';
    end if;
    -- Lock order: seat, reservation, user coupon, wallet. The seat row decides a race between two refunds: the
    -- loser finds it no longer sold to this reservation and answers the winner's refund.
    update seats set status = 'available', reservation_id = null, held_until = null
     where id = r.seat_id and reservation_id = p_reservation and status = 'sold';
    if not found then
      select receipt into v_done from refunds where reservation_id = p_reservation;
      if found then
        return jsonb_build_object('replayed', true, 'receipt', v_done);
      end if;
      raise exception 'RESERVATION_NOT_REFUNDABLE';
    end if;
    update reservations set status = 'refunded', ended_at = v_at where id = p_reservation and status = 'confirmed';
    select id, amount, user_coupon_id, (select coupon_id from user_coupons where id = p.user_coupon_id) as coupon_id
      into v_pay from payments p where reservation_id = p_reservation;
    if p_restore_coupon and v_pay.user_coupon_id is not null then
      update user_coupons set status = 'available', used_at = null, used_by_reservation_id = null
       where id = v_pay.user_coupon_id and status = 'used' and used_by_reservation_id = p_reservation;
      v_restored := found;
    end if;
    if v_pay.amount > 0 then
      update wallets set balance = balance + v_pay.amount, updated_at = now() where user_id = r.user_id
      returning balance into v_balance;
      insert into wallet_ledger (user_id, amount, kind, reference, balance_after)
      values (r.user_id, v_pay.amount, 'refund', 'refund:' || p_reservation, v_balance);
    end if;
    v_receipt := jsonb_build_object('reservationId', p_reservation, 'paymentId', v_pay.id,
      'scheduleId', r.schedule_id, 'seatId', r.seat_id, 'seatLabel', r.label, 'userId', r.user_id,
      'amount', v_pay.amount, 'couponId', v_pay.coupon_id, 'couponRestored', v_restored, 'refundedBy', v_by,
      'reason', p_reason, 'refundedAt', iso_time(v_at));
    insert into refunds (reservation_id, payment_id, user_id, amount, coupon_restored, refunded_by, reason, receipt)
    values (p_reservation, v_pay.id, r.user_id, v_pay.amount, v_restored, v_by, p_reason, v_receipt);
    perform outbox_append('reservation.refunded', p_reservation::text,
      v_receipt || jsonb_build_object('concertId', v_show.concert_id));
    -- back on sale before any deadline: every instance forgets the seat as taken when this commits
    perform pg_notify('${SEAT_RELEASED}', r.seat_id::text);
    return jsonb_build_object('replayed', false, 'receipt', v_receipt);
  end $$`,
)
