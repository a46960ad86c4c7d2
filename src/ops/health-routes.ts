import { readFileSync } from 'node:fs'
import type { Db } from '../platform/db.ts'
import type { Routes } from '../platform/http-server.ts'
import type { Metrics } from '../platform/metrics.ts'

const dashboardHtml = readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8')

/** Liveness, readiness, Prometheus metrics and the operator dashboard page (its data needs the organizer key). */
export const healthRoutes: Routes<{ db: Db; metrics: Metrics }> = async (app, deps) => {
  app.get('/health', { schema: { tags: ['ops'], summary: 'Liveness' } }, async () => ({ status: 'ok' }))

  app.get(
    '/ready',
    { schema: { tags: ['ops'], summary: 'Readiness: the database answers' } },
    async (_request, reply) => {
      try {
        await deps.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute()
        return { status: 'ready' }
      } catch {
        reply.status(503)
        return { code: 'NOT_READY', message: 'The database does not answer.' }
      }
    },
  )

  app.get(
    '/metrics',
    { schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: true } },
    async (_request, reply) => {
      reply.type(deps.metrics.registry.contentType)
      return deps.metrics.registry.metrics()
    },
  )

  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => {
    reply.type('text/html; charset=utf-8')
    return dashboardHtml
  })
}
