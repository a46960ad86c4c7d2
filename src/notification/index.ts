import type { Module } from '../module.ts'
import { createChannels } from './channels.ts'
import { notificationComposer, notificationDelivery, notifiedEventTypes } from './notification-handlers.ts'
import { notificationRoutes } from './notification-routes.ts'

/** Notifications: an inbox entry per event a fan cares about, and one delivery per enabled channel. */
export const notificationModule: Module = {
  name: 'notification',
  async install({ http, db, guard, events, config }) {
    await http.register(notificationRoutes, { db, guard })
    const channels = createChannels(config)
    for (const type of notifiedEventTypes) events.runtime.register(notificationComposer(type, channels))
    events.runtime.register(notificationDelivery(channels))
    return []
  },
}
