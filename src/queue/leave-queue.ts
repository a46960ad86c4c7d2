import { SEAT_RELEASED } from '../booking/seat-board.ts'
import type { DatabaseHandle } from '../platform/db.ts'
import { execute, statement } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'

/**
 * Gives an admission back (the fan leaves, or the organizer removes them): the entry is marked, the fan's live
 * holds of the schedule go back on sale with it, and the queue token is revoked on every instance. Returns the
 * entry's place (to revoke it here at once), or undefined when there was nothing to give back.
 */
export async function leaveQueue(
  database: DatabaseHandle,
  input: { scheduleId: string; userId: string; reason: 'left' | 'kicked' },
): Promise<{ left: boolean; seq: number | null }> {
  const [row] = await execute<{ result: { left: boolean; seq: number | null } }>(database, leaveStatement, [
    input.scheduleId,
    input.userId,
    input.reason,
  ])
  return row!.result
}

const leaveStatement = statement('leave_queue', 'select leave_queue($1, $2, $3) as result')

export const leaveQueueRoutine: Routine = routine(
  'leave_queue',
  `create or replace function leave_queue(p_schedule uuid, p_user uuid, p_reason text) returns jsonb
   language plpgsql as $$
  declare
    v_entry record;
    v_seat record;
  begin
    -- Lock order: queue entry, seats, reservations.
    select status, seq into v_entry from queue_entries
     where schedule_id = p_schedule and user_id = p_user for no key update;
    if not found then
      raise exception 'QUEUE_ENTRY_NOT_FOUND';
    end if;
    if v_entry.status not in ('waiting', 'admitted') then
      return jsonb_build_object('left', false, 'seq', v_entry.seq);
    end if;
    for v_seat in
      update seats s set status = 'available', reservation_id = null, held_until = null
        from (select s2.id, s2.reservation_id from seats s2 join reservations r on r.id = s2.reservation_id
               where r.schedule_id = p_schedule and r.user_id = p_user and r.status = 'held'
                 and s2.status = 'held' and s2.held_until > now()
               order by s2.id for update of s2) held
       where s.id = held.id
      returning s.id, held.reservation_id
    loop
      update reservations set status = 'cancelled', ended_at = now() where id = v_seat.reservation_id;
      perform outbox_append('reservation.cancelled', v_seat.reservation_id::text, jsonb_build_object(
        'reservationId', v_seat.reservation_id, 'scheduleId', p_schedule, 'seatId', v_seat.id, 'userId', p_user,
        'cancelledAt', iso_time(clock_timestamp())));
      perform pg_notify('${SEAT_RELEASED}', v_seat.id::text);
    end loop;
    update queue_entries set status = 'left' where schedule_id = p_schedule and user_id = p_user;
    insert into queue_revocations (schedule_id, user_id, entry_seq, reason) values (p_schedule, p_user, v_entry.seq, p_reason);
    return jsonb_build_object('left', true, 'seq', v_entry.seq);
  end $$`,
)
