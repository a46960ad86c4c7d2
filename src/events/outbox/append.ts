import type { Db } from '../../platform/db.ts'
import { type Routine, routine } from '../../platform/routines.ts'
import { type CloudEvent, EVENT_SOURCE, SCHEMA_VERSION } from '../envelope.ts'
import type { EventType } from '../event-types.ts'

/** Appends events to the outbox inside the caller's transaction: they commit, or vanish, with the change. */
export async function appendToOutbox(tx: Db, events: readonly CloudEvent<EventType>[]): Promise<void> {
  if (events.length === 0) return
  await tx
    .insertInto('outbox')
    .values(
      events.map((e) => ({ id: e.id, topic: e.type, key: e.subject, event: JSON.stringify(e) as unknown })),
    )
    .execute()
}

/**
 * The same append for routines that record their events in SQL: `cloud_event` builds the envelope buildEvent builds
 * (the consumers validate each payload against its TypeBox schema when they read it, and the tests validate every
 * event the routines write), `outbox_append` inserts it.
 */
export const outboxRoutines: readonly Routine[] = [
  routine(
    'cloud_event',
    `create or replace function cloud_event(p_id uuid, p_type text, p_subject text, p_data jsonb)
     returns jsonb language sql volatile as $$
      select jsonb_build_object('specversion', '1.0', 'id', p_id, 'source', '${EVENT_SOURCE}', 'type', p_type,
        'subject', p_subject, 'time', iso_time(clock_timestamp()), 'datacontenttype', 'application/json',
        'dataschemaversion', ${SCHEMA_VERSION}, 'data', p_data) $$`,
  ),
  routine(
    'outbox_append',
    // PL/pgSQL keeps the insert's plan for the session; a SQL function's body was planned again in every transaction.
    `create or replace function outbox_append(p_type text, p_subject text, p_data jsonb)
     returns void language plpgsql volatile as $$
     declare
      v_id uuid := uuid_v7();
     begin
      insert into outbox (id, topic, key, event) values (v_id, p_type, p_subject, cloud_event(v_id, p_type, p_subject, p_data));
     end $$`,
  ),
]
