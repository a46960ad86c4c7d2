import type { Module } from '../module.ts'
import { grantRoutes } from './grant-routes.ts'
import { topUpRoutes } from './top-up-routes.ts'
import { createTossPayments } from './toss-payments.ts'
import { walletRoutes } from './wallet-routes.ts'

/**
 * Points: balance and ledger; paid top-ups through Toss Payments (on with TOSS_SECRET_KEY), organizer grants, and
 * free charges only as a demo (DEMO_TOP_UP; auto: with PGlite). Payments debit through wallet-sql.ts.
 */
export const walletModule: Module = {
  name: 'wallet',
  async install({ http, admin, db, guard, config, database, logger }) {
    const demoTopUp =
      config.DEMO_TOP_UP === 'true' || (config.DEMO_TOP_UP === 'auto' && database.kind === 'pglite')
    const provider = config.TOSS_SECRET_KEY
      ? createTossPayments({
          apiUrl: config.TOSS_API_URL,
          secretKey: config.TOSS_SECRET_KEY,
          timeoutMs: config.TOSS_TIMEOUT_MS,
          onProviderFault: (message) => logger.error({ partner: 'toss-payments' }, message),
        })
      : undefined
    await http.register(walletRoutes, { db, guard, demoTopUp })
    await http.register(topUpRoutes, { db, guard, provider })
    await admin(grantRoutes, { db })
    return []
  },
}
