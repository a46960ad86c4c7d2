import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import type { Routes } from '../platform/http-server.ts'
import type { Metrics } from '../platform/metrics.ts'
import { documentHeaders } from '../platform/security-headers.ts'

const consoleFile = (name: string) => readFileSync(new URL(`./console/${name}`, import.meta.url), 'utf8')
const dashboardHtml = consoleFile('dashboard.html')
const consoleJs = consoleFile('console.js')
const consoleCss = consoleFile('console.css')
/** The console runs no inline script or style: only its own files, and its data from this origin. */
const consoleCsp =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

/** True when `header` is `Bearer <token>`, compared in constant time. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7).trim() : '')
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * Liveness, readiness, Prometheus metrics (behind `metricsToken` when given) and the operator dashboard page (its
 * data needs the organizer key).
 */
export const healthRoutes: Routes<{ db: Db; metrics: Metrics; metricsToken: string | undefined }> = async (
  app,
  deps,
) => {
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
    async (request, reply) => {
      if (
        deps.metricsToken !== undefined &&
        !bearerMatches(request.headers.authorization, deps.metricsToken)
      ) {
        reply.header('www-authenticate', 'Bearer realm="metrics"')
        throw new AppError('METRICS_TOKEN_INVALID')
      }
      reply.type(deps.metrics.registry.contentType)
      return deps.metrics.registry.metrics()
    },
  )

  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => {
    reply
      .type('text/html; charset=utf-8')
      .headers(documentHeaders)
      .header('content-security-policy', consoleCsp)
    return dashboardHtml
  })
  app.get('/dashboard/console.js', { schema: { hide: true } }, async (_request, reply) => {
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache')
    return consoleJs
  })
  app.get('/dashboard/console.css', { schema: { hide: true } }, async (_request, reply) => {
    reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache')
    return consoleCss
  })
}
