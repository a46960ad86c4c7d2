import { type EventType, eventTypes } from '../events/index.ts'

/**
 * Event types that are plumbing between slices, never offered to organizers: a notification's per-channel delivery,
 * a phone verification code (its code stays in the database either way).
 */
const internal: ReadonlySet<string> = new Set<EventType>([
  'notification.requested',
  'phone.verification-requested',
])

/** The business events an organizer can subscribe an endpoint to: every catalog type not marked internal above. */
export const subscribableEventTypes: readonly EventType[] = (Object.keys(eventTypes) as EventType[]).filter(
  (t) => !internal.has(t),
)
