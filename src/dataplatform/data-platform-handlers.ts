import type { ExternalHandler } from '../events/index.ts'
import type { DataPlatformClient } from './data-platform-client.ts'

/** Sends each confirmed reservation to the data platform once, keyed by the event id; no connection is held meanwhile. */
export function dataPlatformHandler(client: DataPlatformClient): ExternalHandler<'reservation.confirmed'> {
  return {
    group: 'data-platform',
    topic: 'reservation.confirmed',
    mode: 'external',
    async handle(event, { eventId, signal }) {
      await client.sendReservation(event.data, eventId, signal)
    },
  }
}
