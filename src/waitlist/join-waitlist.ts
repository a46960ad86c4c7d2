import type { DatabaseHandle } from '../platform/db.ts'
import { execute, statement } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'

/**
 * Puts a fan on a sold-out schedule's waiting list (the back of it; someone already on it keeps their place). A
 * schedule is sold out when no seat is free, or when the free seats already belong to the list; joining then also
 * offers any free seat nobody was offered yet.
 */
export async function joinWaitlist(
  database: DatabaseHandle,
  input: { scheduleId: string; userId: string; offerSeconds: number },
): Promise<{ joined: boolean }> {
  const [row] = await execute<{ result: { joined: boolean } }>(database, joinStatement, [
    input.scheduleId,
    input.userId,
    input.offerSeconds,
  ])
  return row!.result
}

const joinStatement = statement('waitlist_join', 'select waitlist_join($1, $2, $3) as result')

export const joinWaitlistRoutine: Routine = routine(
  'waitlist_join',
  `create or replace function waitlist_join(p_schedule uuid, p_user uuid, p_offer_seconds double precision)
   returns jsonb language plpgsql as $$
  declare
    v_status text;
    v_seat uuid;
  begin
    perform 1 from schedules where id = p_schedule;
    if not found then
      raise exception 'SCHEDULE_NOT_FOUND';
    end if;
    select status into v_status from waitlist_entries where schedule_id = p_schedule and user_id = p_user for update;
    if found and v_status in ('waiting', 'offered') then
      return jsonb_build_object('joined', false);
    end if;
    if exists (select 1 from seats where schedule_id = p_schedule
                and (status = 'available' or (status = 'held' and held_until <= now())))
       and not exists (select 1 from waitlist_entries where schedule_id = p_schedule
                        and status in ('waiting', 'offered')) then
      raise exception 'SCHEDULE_NOT_SOLD_OUT';
    end if;
    insert into waitlist_entries as w (schedule_id, user_id) values (p_schedule, p_user)
    on conflict (schedule_id, user_id) do update
      set status = 'waiting', seq = default, joined_at = clock_timestamp(), updated_at = now();
    -- A free seat nobody holds an offer for (it came back while everyone on the list had an offer) goes to the list.
    for v_seat in select id from seats where schedule_id = p_schedule and status = 'available'
                   and (offered_to is null or offered_until <= now()) order by id
    loop
      perform waitlist_offer_seat(v_seat, p_offer_seconds);
    end loop;
    return jsonb_build_object('joined', true);
  end $$`,
)
