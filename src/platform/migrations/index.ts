import type { Migration, MigrationProvider } from 'kysely/migration'
import * as bookingCore from './0001-booking-core.ts'
import * as eventBackbone from './0002-event-backbone.ts'

/** Migrations in order; a new one is appended here and never edited once shipped. */
export const migrations: Record<string, Migration> = {
  '0001-booking-core': bookingCore,
  '0002-event-backbone': eventBackbone,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
