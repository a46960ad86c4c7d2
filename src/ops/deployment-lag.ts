import type { EventBackbone } from '../events/backbone.ts'
import type { LagEntry } from '../events/transport/port.ts'

/**
 * The deployment's consumer lag (every group's, whatever this instance's roles), or why it is unknown: the transport
 * failed or did not answer in time (Kafka away). The rest of what the console shows (outbox backlog, dead letters,
 * the line) comes from the database and still does.
 */
export async function deploymentLag(
  events: EventBackbone,
): Promise<{ entries: LagEntry[]; unavailable?: string }> {
  try {
    return { entries: await events.transport.lag(events.runtime.subscriptions) }
  } catch (error) {
    return { entries: [], unavailable: `${events.transport.kind}: ${(error as Error).message}` }
  }
}
