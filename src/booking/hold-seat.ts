import type { DatabaseHandle } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { groupCommitted, setBasedRoutine } from '../platform/prepared.ts'
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

/**
 * A batch's plain holds together, one statement per step for all of them (see batchRoutineSql): the items whose fan
 * and seat are in no other item, whose fan is admitted now and below the seat limit, on a schedule nobody waits on
 * the waiting list of, for a seat that is free and offered to nobody. Each is what hold_seat does for it, in its lock
 * order (queue entries, then seats, which it skips when another attempt has them locked, as hold_seat does); the
 * rest, and the seats it did not win, are left to hold_seat (null), which answers them one by one.
 */
export const holdSeatsTogetherRoutine: Routine = setBasedRoutine(
  'hold_seats_together',
  `p_schedules uuid[], p_seats uuid[], p_users uuid[], p_ttl_seconds integer[], p_max_seats integer[]`,
  `v_plain integer[];
    v_item integer[];`,
  `
    select coalesce(array_agg(i order by i), '{}') into v_plain
      from (select i, count(*) over (partition by u) as per_fan, count(*) over (partition by s) as per_seat
              from unnest(p_users, p_seats) with ordinality as t(u, s, i)) x
     where per_fan = 1 and per_seat = 1;
    if cardinality(v_plain) < 2 then
      return v_done;
    end if;
    -- The fans' admissions first, in key order: they serialize each fan's own holds, payments and leaving.
    perform 1 from queue_entries q join unnest(v_plain) as k(i)
        on q.schedule_id = p_schedules[k.i] and q.user_id = p_users[k.i]
     order by q.schedule_id, q.user_id for no key update of q;
    -- Admitted now, below the limit (counted among the fan's own reservations, as hold_seat does), and nobody on the
    -- schedule's waiting list. Conditions as aggregate filters, not a WHERE (see pay_reservations_together).
    select array_agg(k.i order by k.i) filter (where q.status = 'admitted' and q.admitted_until > now()
             and held.seats < p_max_seats[k.i] and not listed.anyone)
      into v_item
      from unnest(v_plain) as k(i)
      join queue_entries q on q.schedule_id = p_schedules[k.i] and q.user_id = p_users[k.i]
      cross join lateral (
        select count(*) filter (where (r.status = 'held' and r.expires_at > now())
                                   or (r.status = 'confirmed' and r.created_at >= q.admitted_at)) as seats
          from reservations r where r.schedule_id = p_schedules[k.i] and r.user_id = p_users[k.i]) as held
      cross join lateral (
        select exists (select 1 from waitlist_entries w
                        where w.schedule_id = p_schedules[k.i] and w.status = 'waiting') as anyone) as listed;
    if coalesce(cardinality(v_item), 0) < 2 then
      return v_done;
    end if;

    with wanted as (
      select t.n, t.i, uuid_v7() as id from unnest(v_item) with ordinality as t(i, n)),
    target as (
      select w.n, w.i, w.id as reservation_id, s.id as seat_id from seats s join wanted w on s.id = p_seats[w.i]
       where s.schedule_id = p_schedules[w.i] and s.status = 'available' and s.offered_to is null
       for update of s skip locked),
    won as (
      update seats s set status = 'held', reservation_id = t.reservation_id,
             held_until = now() + make_interval(secs => p_ttl_seconds[t.i]), offered_to = null, offered_until = null
        from target t where s.id = t.seat_id
      returning t.n, t.i, t.reservation_id, s.label, s.price, s.held_until),
    reserved as (
      insert into reservations (id, schedule_id, seat_id, user_id, price, status, expires_at)
      select reservation_id, p_schedules[i], p_seats[i], p_users[i], price, 'held', held_until from won order by n),
    events as (
      insert into outbox (id, topic, key, event)
      select w.event_id, 'reservation.held', w.reservation_id::text,
             cloud_event(w.event_id, 'reservation.held', w.reservation_id::text, jsonb_build_object(
               'reservationId', w.reservation_id, 'scheduleId', p_schedules[w.i], 'seatId', p_seats[w.i],
               'userId', p_users[w.i], 'price', w.price, 'expiresAt', iso_time(w.held_until)))
        from (select won.*, uuid_v7() as event_id from won) w
       order by w.n)
    select array_agg(jsonb_build_object('i', i, 'answer', jsonb_build_object('id', reservation_id,
             'scheduleId', p_schedules[i], 'seatId', p_seats[i], 'seatLabel', label, 'userId', p_users[i],
             'price', price, 'status', 'held', 'expiresAt', iso_time(held_until), 'createdAt', iso_time(now()),
             'confirmedAt', null)))
      into v_results from won;`,
)

/** Holds of the same moment share one transaction and round trip (GroupCommit). */
const holdAttempts = groupCommitted<HoldResult>('hold_seat', ['uuid', 'uuid', 'uuid', 'integer', 'integer'], {
  setBased: holdSeatsTogetherRoutine,
})
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
