import type { Migration, MigrationProvider } from 'kysely/migration'
import * as bookingCore from './0001-booking-core.ts'

/** Migrations in order; a new one is appended here and never edited once shipped. */
export const migrations: Record<string, Migration> = {
  '0001-booking-core': bookingCore,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
