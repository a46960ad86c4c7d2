import type { Module } from '../module.ts'
import { createChannels } from './channels.ts'
import { contactRoutes } from './contact-routes.ts'
import { notificationComposer, notificationDelivery, notifiedEventTypes } from './notification-handlers.ts'
import { notificationRoutes } from './notification-routes.ts'
import { phoneVerificationSender } from './phone-verification-handlers.ts'
import { createSmsClient } from './sms-channel.ts'

/**
 * Notifications: an inbox entry per event a fan cares about, and one delivery per enabled channel (and per device
 * for push); the fan's contact points for the Korean channels (a verified phone number, push tokens).
 */
export const notificationModule: Module = {
  name: 'notification',
  async install({ http, db, guard, events, config }) {
    const sms = createSmsClient(config)
    const channels = createChannels(config, sms)
    const rules = {
      ttlSeconds: config.PHONE_CODE_TTL_SECONDS,
      maxAttempts: config.PHONE_CODE_MAX_ATTEMPTS,
      maxPerHour: config.PHONE_CODE_MAX_PER_HOUR,
    }
    await http.register(notificationRoutes, { db, guard, channels })
    await http.register(contactRoutes, { db, guard, rules, smsConfigured: sms !== undefined })
    for (const type of notifiedEventTypes) events.runtime.register(notificationComposer(type, channels))
    events.runtime.register(notificationDelivery(channels))
    events.runtime.register(phoneVerificationSender(sms, rules.ttlSeconds))
    return []
  },
}
