import type { Module } from '../module.ts'
import { createAttemptLimiter } from './attempt-limiter.ts'
import { authRoutes } from './auth-routes.ts'
import type { PasswordHasher } from './passwords.ts'

/**
 * Accounts: sign-up and sign-in, hashing through the bounded pool. The token service and the guard are built by the
 * composition root for all.
 */
export function authModule(passwords: PasswordHasher): Module {
  return {
    name: 'auth',
    async install({ http, db, tokens, logger, config }) {
      const windowMs = config.AUTH_RATE_WINDOW_SECONDS * 1000
      const limits = {
        address: createAttemptLimiter({ limit: config.AUTH_RATE_PER_ADDRESS, windowMs, scope: 'address' }),
        account: createAttemptLimiter({ limit: config.AUTH_RATE_PER_ACCOUNT, windowMs, scope: 'account' }),
      }
      await http.register(authRoutes, { db, tokens, passwords, logger, limits })
      return []
    },
  }
}
