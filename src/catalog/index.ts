import type { Module } from '../module.ts'
import type { Tx } from '../platform/db.ts'
import { catalogAdminRoutes } from './catalog-admin-routes.ts'
import { catalogRoutes, catalogSchemas } from './catalog-routes.ts'

/** Concerts, schedules and seats: public reads, organizer writes. */
export function catalogModule(options: {
  /** Runs in a new schedule's creating transaction: the waiting room prepares itself there. */
  onScheduleCreated: (tx: Tx, scheduleId: string) => Promise<void>
}): Module {
  return {
    name: 'catalog',
    async install({ http, admin, db }) {
      for (const schema of catalogSchemas) http.addSchema(schema)
      await http.register(catalogRoutes, { db })
      await admin(catalogAdminRoutes, { db, onScheduleCreated: options.onScheduleCreated })
      return []
    },
  }
}
