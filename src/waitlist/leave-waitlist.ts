import type { DatabaseHandle } from '../platform/db.ts'
import { execute, statement } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'

/** Takes a fan off a waiting list; a seat offered to them goes to the next fan at once. */
export async function leaveWaitlist(
  database: DatabaseHandle,
  input: { scheduleId: string; userId: string; offerSeconds: number },
): Promise<void> {
  await execute(database, leaveStatement, [input.scheduleId, input.userId, input.offerSeconds])
}

const leaveStatement = statement('waitlist_leave', 'select waitlist_leave($1, $2, $3) as result')

export const leaveWaitlistRoutine: Routine = routine(
  'waitlist_leave',
  `create or replace function waitlist_leave(p_schedule uuid, p_user uuid, p_offer_seconds double precision)
   returns jsonb language plpgsql as $$
  declare
    v_offer record;
    v_status text;
    v_offered boolean;
  begin
    -- Lock order: the offered seat, then the fan's entry and offer.
    select id, seat_id into v_offer from waitlist_offers
     where schedule_id = p_schedule and user_id = p_user and status = 'open';
    v_offered := found;
    if v_offered then
      perform 1 from seats where id = v_offer.seat_id for update;
    end if;
    select status into v_status from waitlist_entries where schedule_id = p_schedule and user_id = p_user for update;
    if not found or v_status = 'left' then
      raise exception 'WAITLIST_ENTRY_NOT_FOUND';
    end if;
    update waitlist_entries set status = 'left', updated_at = now() where schedule_id = p_schedule and user_id = p_user;
    if v_offered then
      update waitlist_offers set status = 'withdrawn', ended_at = now() where id = v_offer.id and status = 'open';
      if found then
        update seats set offered_to = null, offered_until = null where id = v_offer.seat_id and offered_to = p_user;
        perform waitlist_offer_seat(v_offer.seat_id, p_offer_seconds);
      end if;
    end if;
    return jsonb_build_object('left', true);
  end $$`,
)
