import type { DatabaseHandle } from '../platform/db.ts'
import { execute, statement } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'
import { SEAT_RELEASED, type SeatBoard } from './seat-board.ts'

/** Releases the caller's own live hold: the seat is free again at once, here and on every instance. */
export async function cancelHold(
  database: DatabaseHandle,
  board: SeatBoard,
  reservationId: string,
  userId: string,
): Promise<void> {
  const [row] = await execute<{ seat_id: string }>(database, cancelStatement, [reservationId, userId])
  board.forget(row!.seat_id)
}

const cancelStatement = statement('cancel_hold', 'select cancel_hold($1, $2) as seat_id')

export const cancelHoldRoutine: Routine = routine(
  'cancel_hold',
  `create or replace function cancel_hold(p_reservation uuid, p_user uuid) returns uuid language plpgsql as $$
  declare
    r record;
  begin
    select id, schedule_id, seat_id, user_id into r from reservations where id = p_reservation;
    if not found then
      raise exception 'RESERVATION_NOT_FOUND';
    end if;
    if r.user_id <> p_user then
      raise exception 'FORBIDDEN';
    end if;
    -- seat, then reservation (the lock order)
    update seats set status = 'available', reservation_id = null, held_until = null
     where id = r.seat_id and reservation_id = p_reservation and status = 'held' and held_until > clock_timestamp();
    if not found then
      raise exception 'RESERVATION_NOT_PAYABLE' using detail = 'Only a live hold can be cancelled.';
    end if;
    -- Still held: its seat, just released from it under lock, is released before a reservation ends (and a WHERE on
    -- the status could take the partial index of every hold, which statistics from before a sale make look empty).
    update reservations set status = 'cancelled', ended_at = now() where id = p_reservation;
    perform outbox_append('reservation.cancelled', p_reservation::text, jsonb_build_object(
      'reservationId', p_reservation, 'scheduleId', r.schedule_id, 'seatId', r.seat_id, 'userId', p_user,
      'cancelledAt', iso_time(clock_timestamp())));
    -- released before its deadline: every instance forgets the seat as taken when this commits
    perform pg_notify('${SEAT_RELEASED}', r.seat_id::text);
    return r.seat_id;
  end $$`,
)
