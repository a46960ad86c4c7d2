import type { DatabaseHandle } from '../platform/db.ts'
import { groupCommitted } from '../platform/prepared.ts'
import { type Routine, routine } from '../platform/routines.ts'
import type { EntryStatus } from './queue-sql.ts'

export interface EnteredEntry {
  /** True when this call put the fan in line (first entry, or back of the line after leaving or buying). */
  entered: boolean
  status: EntryStatus
  /** The place drawn or taken; null while the sale has not opened (the pre-queue is drawn at opening). */
  seq: number | null
  admittedThrough: number
  admittedUntil: string | null
}

/**
 * Joins the line, in one round trip. Someone waiting, or admitted and within their window, keeps their place;
 * someone who left, bought, or let their window lapse goes to the back. Before the sale opens there is no place yet.
 */
export async function enterQueue(
  database: DatabaseHandle,
  scheduleId: string,
  userId: string,
): Promise<EnteredEntry> {
  return entries.call(database, [scheduleId, userId])
}

/** Entries of the same moment share one transaction and round trip (GroupCommit). */
const entries = groupCommitted<EnteredEntry>('enter_queue', ['uuid', 'uuid'])
export const enterQueueBatchRoutine: Routine = entries.batchRoutine

export const enterQueueRoutine: Routine = routine(
  'enter_queue',
  `create or replace function enter_queue(p_schedule uuid, p_user uuid) returns jsonb language plpgsql as $$
  declare
    v_state record;
    v_entry record;
    v_entered boolean := false;
  begin
    select opened, sequence_name, admitted_through into v_state from queue_state where schedule_id = p_schedule;
    if not found then
      raise exception 'SCHEDULE_NOT_FOUND';
    end if;
    select status, seq, admitted_until into v_entry from queue_entries
     where schedule_id = p_schedule and user_id = p_user for no key update;
    if not found then
      -- (two entries of the same fan racing each other can burn one place; nobody is pushed back by more)
      insert into queue_entries (schedule_id, user_id, seq)
      values (p_schedule, p_user, case when v_state.opened then nextval(v_state.sequence_name::regclass) end)
      on conflict do nothing
      returning status, seq, admitted_until into v_entry;
      v_entered := found;
      if not found then
        select status, seq, admitted_until into v_entry from queue_entries
         where schedule_id = p_schedule and user_id = p_user;
      end if;
    elsif v_entry.status in ('left', 'completed') or (v_entry.status = 'admitted' and v_entry.admitted_until <= now()) then
      update queue_entries
         set seq = case when v_state.opened then nextval(v_state.sequence_name::regclass) end, status = 'waiting',
             entered_at = clock_timestamp(), admitted_at = null, admitted_until = null
       where schedule_id = p_schedule and user_id = p_user
      returning status, seq, admitted_until into v_entry;
      v_entered := true;
    end if;
    if v_entered then
      perform outbox_append('queue.entered', p_schedule::text || ':' || p_user::text, jsonb_build_object(
        'scheduleId', p_schedule, 'userId', p_user, 'preQueue', not v_state.opened,
        'enteredAt', iso_time(clock_timestamp())));
    end if;
    return jsonb_build_object('entered', v_entered,
      'status', case when v_entry.status = 'admitted' and v_entry.admitted_until <= now() then 'expired' else v_entry.status end,
      'seq', v_entry.seq, 'admittedThrough', v_state.admitted_through,
      'admittedUntil', iso_time(v_entry.admitted_until));
  end $$`,
)
