import type { Db } from '../../platform/db.ts'
import type { CloudEvent } from '../envelope.ts'
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
