import type { CloudEvent, EventType, TransactionHandler } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { uuidv7 } from '../platform/ids.ts'
import { subscribedEndpoints } from './webhooks-sql.ts'

/** The body every endpoint receives: the Standard Webhooks payload shape (type, timestamp, data). */
export function webhookPayload(event: CloudEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.time, data: event.data })
}

/**
 * One consumer group per subscribable event type: writes one pending delivery per enabled endpoint subscribed to
 * the type (a batch of events in one statement), in the transaction that records the event id, so each endpoint gets each event once whatever the
 * redelivery (the unique (endpoint, event) pair absorbs the rest). The delivery worker finds them at its next poll.
 */
export function webhookFanOut<T extends EventType>(type: T): TransactionHandler<T> {
  const fanOut = async (tx: Db, events: readonly CloudEvent<T>[]) => {
    const endpoints = await subscribedEndpoints(tx, type)
    if (endpoints.length === 0) return
    await tx
      .insertInto('webhook_deliveries')
      .values(
        events.flatMap((event) => {
          const payload = webhookPayload(event)
          return endpoints.map((e) => ({
            id: uuidv7(),
            endpoint_id: e.id,
            event_id: event.id,
            event_type: type,
            payload,
          }))
        }),
      )
      .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
      .execute()
  }
  return {
    group: `webhooks.${type}`,
    yieldsToFans: true,
    topic: type,
    handle: (event, { tx }) => fanOut(tx, [event]),
    handleBatch: (events, { tx }) => fanOut(tx, events),
  }
}
