import type { EventBackbone } from '../events/backbone.ts'
import type { LagEntry } from '../events/transport/port.ts'
import { answeredWithin } from '../platform/deadline.ts'

/** The brokers answer a lag read in milliseconds; a cluster that is away must not hold a reading or a shutdown. */
const LAG_TIMEOUT_MS = 3_000

/**
 * The deployment's consumer lag (every group's, whatever this instance's roles), or why it is unknown: the transport
 * failed or did not answer within `ms` (Kafka away; the client's own timeouts and retries take minutes). The rest
 * of what the console shows (outbox backlog, dead letters, the line) comes from the database and still does.
 */
export async function deploymentLag(
  events: EventBackbone,
  ms = LAG_TIMEOUT_MS,
): Promise<{ entries: LagEntry[]; unavailable?: string }> {
  try {
    const entries = await answeredWithin(
      events.transport.lag(events.runtime.subscriptions),
      ms,
      `no answer within ${ms} ms`,
    )
    return { entries }
  } catch (error) {
    return { entries: [], unavailable: `${events.transport.kind}: ${(error as Error).message}` }
  }
}
