import type { Module } from '../module.ts'
import { authRoutes } from './auth-routes.ts'

/** Accounts: sign-up and sign-in. The token service and the guard are built by the composition root for all. */
export const authModule: Module = {
  name: 'auth',
  async install({ http, db, tokens }) {
    await http.register(authRoutes, { db, tokens })
    return []
  },
}
