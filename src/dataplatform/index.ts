import type { Module } from '../module.ts'
import { createHttpDataPlatformClient } from './data-platform-client.ts'
import { dataPlatformHandler, dataPlatformRefundHandler } from './data-platform-handlers.ts'

/** Sync of confirmed reservations (and corrections of refunded ones) to the data platform, when DATA_PLATFORM_URL names one. */
export const dataPlatformModule: Module = {
  name: 'data-platform',
  async install({ events, config, logger }) {
    if (!config.DATA_PLATFORM_URL) {
      logger.info('DATA_PLATFORM_URL not set: confirmed reservations are not synced to a data platform')
      return []
    }
    const client = createHttpDataPlatformClient({
      url: config.DATA_PLATFORM_URL,
      timeoutMs: config.DATA_PLATFORM_TIMEOUT_MS,
      authHeader: config.DATA_PLATFORM_AUTH_HEADER,
    })
    events.runtime.register(dataPlatformHandler(client))
    events.runtime.register(dataPlatformRefundHandler(client))
    return []
  },
}
