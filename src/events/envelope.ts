import Value from 'typebox/value'
import { v7 as uuidv7 } from 'uuid'
import { type EventData, type EventType, eventCatalog } from './catalog.ts'

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
  const schema = eventCatalog[type]?.data
  if (!schema) throw new EventSchemaError(`Unknown event type ${type}`)
  if (!Value.Check(schema, data)) {
    const first = Value.Errors(schema, data)[0]
    throw new EventSchemaError(`${type} data ${first?.instancePath || '/'}: ${first?.message}`)
  }
}
