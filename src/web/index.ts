import type { Module } from '../module.ts'
import { webRoutes } from './web-routes.ts'

/** The fans' web app: plain ES modules and CSS served by the service itself (no CDN, no build step). */
export const webModule: Module = {
  name: 'web',
  async install({ http }) {
    await http.register(webRoutes, {})
    return []
  },
}
