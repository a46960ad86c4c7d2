/**
 * What slices use of the event backbone, and nothing else: the handler types they implement, the envelope they
 * build, the outbox they append to in their own transaction, and the error that says "do not retry".
 */

export { NonRetryableError } from '../platform/errors.ts'
export type { CloudEvent } from './envelope.ts'
export { buildEvent } from './envelope.ts'
export type { EventData, EventType } from './event-types.ts'
export { eventTypes } from './event-types.ts'
export { appendToOutbox } from './outbox/append.ts'
export type {
  EventHandler,
  ExternalContext,
  ExternalHandler,
  TransactionContext,
  TransactionHandler,
} from './runtime/handler.ts'
