import { readdirSync, readFileSync } from 'node:fs'
import { extname } from 'node:path'
import Type from 'typebox'
import { AppError } from '../platform/errors.ts'
import type { Routes } from '../platform/http-server.ts'
import { documentHeaders } from '../platform/security-headers.ts'

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/** Scripts, styles and streams from this origin only: no inline script can run, whatever a page shows. */
export const contentSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** The app's files, read once at start: the set is fixed, so a request can only ever name one of them. */
function loadFiles(): Map<string, { body: Buffer; type: string }> {
  const dir = new URL('./app/', import.meta.url)
  const files = new Map<string, { body: Buffer; type: string }>()
  for (const name of readdirSync(dir)) {
    const type = types[extname(name)]
    if (type) files.set(name, { body: readFileSync(new URL(name, dir)), type })
  }
  return files
}

export const webRoutes: Routes = async (app) => {
  const files = loadFiles()
  const index = files.get('index.html')!
  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    reply
      .type(index.type)
      .headers(documentHeaders)
      .header('content-security-policy', contentSecurityPolicy)
      .header('cache-control', 'no-cache')
    return index.body
  })
  app.get(
    '/app/:file',
    { schema: { hide: true, params: Type.Object({ file: Type.String({ maxLength: 100 }) }) } },
    async (request, reply) => {
      const file = files.get(request.params.file)
      if (!file) throw new AppError('ROUTE_NOT_FOUND')
      reply.type(file.type).header('cache-control', 'no-cache')
      return file.body
    },
  )
}
