import { Compile, type Validator } from 'typebox/compile'
import { NonRetryableError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'
import { type EventData, type EventType, eventTypes } from './event-types.ts'

export const EVENT_SOURCE = 'urn:ticketing'
export const SCHEMA_VERSION = 1

/** A CloudEvents 1.0 envelope in structured JSON mode; `subject` is the aggregate id and the Kafka key. */
export interface CloudEvent<T extends EventType = EventType> {
  specversion: '1.0'
  id: string
  source: string
  type: T
  subject: string
  time: string
  datacontenttype: 'application/json'
  dataschemaversion: number
  traceparent?: string
  data: EventData<T>
}

export class EventSchemaError extends Error {
  override name = 'EventSchemaError'
}

/** Builds a validated envelope; throws EventSchemaError when `data` does not fit the type's schema. */
export function buildEvent<T extends EventType>(
  type: T,
  subject: string,
  data: EventData<T>,
  options: { time?: Date; traceparent?: string | undefined } = {},
): CloudEvent<T> {
  assertEventData(type, data)
  return {
    specversion: '1.0',
    id: uuidv7(),
    source: EVENT_SOURCE,
    type,
    subject,
    time: (options.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    dataschemaversion: SCHEMA_VERSION,
    ...(options.traceparent ? { traceparent: options.traceparent } : {}),
    data,
  }
}

export function assertEventData(type: EventType, data: unknown): void {
  const validator = validatorOf(type)
  if (!validator) throw new EventSchemaError(`Unknown event type ${type}`)
  if (!validator.Check(data)) {
    const first = validator.Errors(data)[0]
    throw new EventSchemaError(`${type} data ${first?.instancePath || '/'}: ${first?.message}`)
  }
}

/**
 * Each type's schema compiled once, on first use: every consumer group checks every event it reads, and the compiled
 * check takes about 1 µs where `Value.Check` walked the schema in about 12.
 */
const validators = new Map<EventType, Validator>()
function validatorOf(type: EventType): Validator | undefined {
  const known = validators.get(type)
  if (known) return known
  const schema = eventTypes[type]?.data
  if (!schema) return undefined
  const compiled = Compile(schema)
  validators.set(type, compiled)
  return compiled
}

/** Parses and validates a CloudEvents envelope of the expected type; throws a non-retryable error otherwise. */
export function parseEvent(value: string, expectedType: EventType): CloudEvent {
  let parsed: CloudEvent
  try {
    parsed = JSON.parse(value) as CloudEvent
  } catch {
    throw new NonRetryableError('The record is not JSON')
  }
  if (parsed?.specversion !== '1.0' || typeof parsed.id !== 'string' || typeof parsed.time !== 'string') {
    throw new NonRetryableError('The record is not a CloudEvents 1.0 envelope')
  }
  if (parsed.type !== expectedType)
    throw new NonRetryableError(`Expected ${expectedType}, got ${String(parsed.type)}`)
  try {
    assertEventData(parsed.type, parsed.data)
  } catch (error) {
    if (error instanceof EventSchemaError) throw new NonRetryableError(error.message)
    throw error
  }
  return parsed
}
