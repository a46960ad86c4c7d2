import type { DatabaseHandle } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { groupCommitted } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'
import type { ReservationView } from './reservations-sql.ts'
import type { SeatBoard } from './seat-board.ts'

interface HoldInput {
  scheduleId: string
  seatId: string
  userId: string
  ttlSeconds: number
  maxSeats: number
}

/**
 * Holds a seat for a fan the waiting room admitted, in one round trip. The database decides every win; this
 * instance's seat board answers the crowd's losing attempts without one (it says "taken" only until a deadline it
 * knows, never "free"): the route asks it before the tokens are checked, and an attempt on a seat this instance is
 * already asking the database about waits for that answer, then asks the board again.
 *
 * Lock order, in every routine and transaction that takes more than one of these rows:
 *   queue entry → seat → reservation → user coupon → wallet.
 */
export async function holdSeat(
  database: DatabaseHandle,
  board: SeatBoard,
  input: HoldInput,
): Promise<ReservationView> {
  const ahead = board.attemptInFlight(input.seatId)
  if (ahead) {
    await ahead
    if (board.isTaken(input.seatId)) throw new AppError('SEAT_ALREADY_HELD')
  }
  return board.trackAttempt(input.seatId, attemptHold(database, board, input))
}

async function attemptHold(
  database: DatabaseHandle,
  board: SeatBoard,
  input: HoldInput,
): Promise<ReservationView> {
  const result = await holdAttempts.call(database, [
    input.scheduleId,
    input.seatId,
    input.userId,
    input.ttlSeconds,
    input.maxSeats,
  ])
  if ('taken' in result) {
    if (result.status === 'sold') board.recordSold(input.scheduleId, input.seatId)
    if (result.status === 'held' && result.heldUntil)
      board.recordHeld(input.scheduleId, input.seatId, Date.parse(result.heldUntil))
    throw new AppError('SEAT_ALREADY_HELD')
  }
  board.recordHeld(input.scheduleId, input.seatId, Date.parse(result.expiresAt))
  return result
}

type HoldResult =
  | ReservationView
  | { taken: true; status: 'available' | 'held' | 'sold'; heldUntil: string | null }

/** Holds of the same moment share one transaction and round trip (GroupCommit). */
const holdAttempts = groupCommitted<HoldResult>('hold_seat', ['uuid', 'uuid', 'uuid', 'integer', 'integer'])
export const holdSeatBatchRoutine: Routine = holdAttempts.batchRoutine

export const holdSeatRoutine: Routine = routine(
  'hold_seat',
  `create or replace function hold_seat(p_schedule uuid, p_seat uuid, p_user uuid, p_ttl_seconds integer,
     p_max_seats integer) returns jsonb language plpgsql as $$
  declare
    v_entry record;
    v_seats integer;
    v_id uuid := uuid_v7();
    v_won record;
    v_lapsed record;
    v_seat record;
    v_list_first boolean;
  begin
    -- The fan's admission, locked first: it serializes the fan's own holds, payments and leaving.
    select status, admitted_at, admitted_until into v_entry from queue_entries
     where schedule_id = p_schedule and user_id = p_user for no key update;
    if found and v_entry.status in ('completed', 'left') then
      raise exception 'QUEUE_TOKEN_REVOKED';
    end if;
    if not found or v_entry.status <> 'admitted' or v_entry.admitted_until <= now() then
      raise exception 'QUEUE_NOT_ADMITTED' using detail = 'You are not admitted to this schedule now.';
    end if;
    -- One admission buys at most p_max_seats: its live holds and the seats paid since it began. Counted among the
    -- fan's own reservations (their (schedule, user) index): a WHERE on the status would let the planner take the
    -- partial indexes of every hold or every sale, which statistics from before a sale make look empty.
    select count(*) filter (where (status = 'held' and expires_at > now())
                               or (status = 'confirmed' and created_at >= v_entry.admitted_at))
      into v_seats from reservations where schedule_id = p_schedule and user_id = p_user;
    if v_seats >= p_max_seats then
      raise exception 'HOLD_LIMIT_REACHED';
    end if;
    -- While other fans wait on the schedule's waiting list, a seat that comes back is theirs: it is offered to one
    -- of them at a time (offered_to until offered_until), and nobody else may take it.
    v_list_first := exists (select 1 from waitlist_entries
                             where schedule_id = p_schedule and status = 'waiting' and user_id <> p_user);
    -- The seat row decides the race: free, or its hold lapsed; and not offered to someone else. A row another
    -- attempt is taking right now is skipped, not waited for: that attempt wins it or frees it.
    with target as (
      select id, reservation_id, offered_to from seats
       where id = p_seat and schedule_id = p_schedule
         and (status = 'available' or (status = 'held' and held_until <= now()))
         and ((offered_to = p_user and offered_until > now())
              or (not v_list_first and (offered_to is null or offered_until <= now())))
       for update skip locked)
    update seats s set status = 'held', reservation_id = v_id, held_until = now() + make_interval(secs => p_ttl_seconds),
           offered_to = null, offered_until = null
      from target where s.id = target.id
    returning s.label, s.price, s.held_until, target.reservation_id as lapsed, target.offered_to as offered into v_won;
    if not found then
      select status, held_until, offered_to, offered_until into v_seat from seats
       where id = p_seat and schedule_id = p_schedule;
      if not found then
        raise exception 'SEAT_NOT_FOUND';
      end if;
      if (v_seat.status = 'available' or (v_seat.status = 'held' and v_seat.held_until <= now()))
         and not coalesce(v_seat.offered_to = p_user and v_seat.offered_until > now(), false)
         and ((v_seat.offered_to is not null and v_seat.offered_until > now()) or v_list_first) then
        raise exception 'SEAT_OFFERED_TO_WAITLIST';
      end if;
      return jsonb_build_object('taken', true, 'status', v_seat.status,
        'heldUntil', case when v_seat.held_until > now() then iso_time(v_seat.held_until) end);
    end if;
    -- A lapsed hold taken over ends here, with its event, even if the expiry worker has not run yet. It is still
    -- held: its seat, locked above and still pointing at it, is released before a reservation ends (and a WHERE on
    -- the status could take the partial index of every hold).
    if v_won.lapsed is not null then
      update reservations set status = 'expired', ended_at = now() where id = v_won.lapsed
      returning id, user_id, expires_at into v_lapsed;
      if found then
        perform outbox_append('reservation.expired', v_lapsed.id::text, jsonb_build_object(
          'reservationId', v_lapsed.id, 'scheduleId', p_schedule, 'seatId', p_seat, 'userId', v_lapsed.user_id,
          'expiresAt', iso_time(v_lapsed.expires_at)));
      end if;
    end if;
    -- The waiting-list fan took the seat offered to them.
    if v_won.offered = p_user then
      update waitlist_offers set status = 'accepted', ended_at = now(), reservation_id = v_id
       where seat_id = p_seat and user_id = p_user and status = 'open';
      update waitlist_entries set status = 'accepted', updated_at = now()
       where schedule_id = p_schedule and user_id = p_user and status = 'offered';
    end if;
    insert into reservations (id, schedule_id, seat_id, user_id, price, status, expires_at)
    values (v_id, p_schedule, p_seat, p_user, v_won.price, 'held', v_won.held_until);
    perform outbox_append('reservation.held', v_id::text, jsonb_build_object(
      'reservationId', v_id, 'scheduleId', p_schedule, 'seatId', p_seat, 'userId', p_user, 'price', v_won.price,
      'expiresAt', iso_time(v_won.held_until)));
    return jsonb_build_object('id', v_id, 'scheduleId', p_schedule, 'seatId', p_seat, 'seatLabel', v_won.label,
      'userId', p_user, 'price', v_won.price, 'status', 'held', 'expiresAt', iso_time(v_won.held_until),
      'createdAt', iso_time(now()), 'confirmedAt', null);
  end $$`,
)
