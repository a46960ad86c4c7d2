import { type EventType, eventTypes } from '../events/index.ts'

/**
 * Event types never offered to organizers: plumbing between slices (a notification's per-channel delivery, a phone
 * verification code request), and the raw requests of a flash sale, one per fan (queue.entered, and
 * coupon.issue-requested, whose outcome is coupon.issued or coupon.rejected): a webhook per fan entering the waiting
 * room would flood the organizer's endpoint, and each type costs a consumer group.
 */
const internal: ReadonlySet<string> = new Set<EventType>([
  'notification.requested',
  'phone.verification-requested',
  'queue.entered',
  'coupon.issue-requested',
])

/** The business events an organizer can subscribe an endpoint to: every catalog type not marked internal above. */
export const subscribableEventTypes: readonly EventType[] = (Object.keys(eventTypes) as EventType[]).filter(
  (t) => !internal.has(t),
)
