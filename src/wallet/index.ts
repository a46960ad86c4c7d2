import type { Module } from '../module.ts'
import { walletRoutes } from './wallet-routes.ts'

/** Points: balance, charges (idempotent) and the ledger. Payments debit through wallet-sql.ts. */
export const walletModule: Module = {
  name: 'wallet',
  async install({ http, db, guard }) {
    await http.register(walletRoutes, { db, guard })
    return []
  },
}
