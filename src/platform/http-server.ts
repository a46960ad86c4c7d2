import { once } from 'node:events'
import { STATUS_CODES } from 'node:http'
import { type AddressInfo, createServer, type Server } from 'node:net'
import type { Duplex } from 'node:stream'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
  type onRequestHookHandler,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify'
import Type from 'typebox'
import { AppError, type ErrorCode, errorCatalog, isAppError } from './errors.ts'
import type { HistogramSeries, Metrics } from './metrics.ts'
import { isMissingUserReference } from './pg-errors.ts'
import { documentHeaders, securityHeaders } from './security-headers.ts'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export type HttpServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

/** A slice's routes: a Fastify plugin typed by the TypeBox provider, taking the slice's dependencies as options. */
export type Routes<Deps extends Record<string, unknown> = Record<never, never>> =
  FastifyPluginAsyncTypebox<Deps>

/** Registers routes in a child scope behind `guard`, documented with `security` and `tags` on every route. */
export type ScopedRegistrar = <D extends Record<string, unknown>>(routes: Routes<D>, deps: D) => Promise<void>

/**
 * A registrar for a protected group of routes: each plugin goes into its own child scope whose onRequest hook runs
 * `guard` before any handler, so no route of the group can forget the check, and whose onRoute hook writes the
 * security requirement into the route's OpenAPI entry in one place.
 */
export function scopedRoutes(
  http: HttpServer,
  guard: onRequestHookHandler,
  openapi: { security: Record<string, string[]>[]; tags: string[] },
): ScopedRegistrar {
  return async (routes, deps) => {
    await http.register(async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.schema = { tags: openapi.tags, ...route.schema, security: openapi.security }
      })
      scope.addHook('onRequest', guard)
      await scope.register(routes, deps)
    })
  }
}

/** The one error body every endpoint answers with. */
export const ErrorBody = Type.Object(
  {
    code: Type.Union(
      Object.keys(errorCatalog).map((c) => Type.Literal(c)),
      { description: 'Stable machine-readable code' },
    ),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'Error', title: 'Error' },
)

/** Response schemas for the given error codes, grouped by HTTP status, each documented with its codes. */
export function errorResponses(...codes: ErrorCode[]): Record<number, unknown> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of [...codes, 'VALIDATION_FAILED', 'INTERNAL_ERROR'] as ErrorCode[]) {
    const status = errorCatalog[code].status
    byStatus.set(status, [...new Set([...(byStatus.get(status) ?? []), code])])
  }
  const out: Record<number, unknown> = {}
  for (const [status, list] of byStatus) {
    out[status] = Type.Ref('Error', { description: list.join(', ') })
  }
  return out
}

/**
 * PostgreSQL data exceptions that only a value sent by the client can cause once the schema has passed it: a
 * number or date past what the column holds (22003, 22007, 22008), a NUL or unencodable character (22021, 22P05).
 */
const unstorableValueStates = new Set(['22003', '22007', '22008', '22021', '22P05'])
const UNSTORABLE_MESSAGE = 'A value in the request is out of range or holds characters that cannot be stored.'

/** Whether every string of a parsed JSON value, property names included, is whole UTF-16 (no lone surrogate). */
function isWellFormedJson(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed()
  if (Array.isArray(value)) return value.every(isWellFormedJson)
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!key.isWellFormed() || !isWellFormedJson(item)) return false
    }
  }
  return true
}

function translateFrameworkError(error: FastifyError): AppError {
  if (error.validation) {
    const first = error.validation[0]
    const params = first?.params as { missingProperty?: string; additionalProperty?: string } | undefined
    // the path to the object, then the property missing from it or not allowed in it
    const field =
      [
        first?.instancePath?.replace(/^\//, '').replaceAll('/', '.'),
        params?.missingProperty ?? params?.additionalProperty,
      ]
        .filter(Boolean)
        .join('.') ||
      error.validationContext ||
      'request'
    const where = error.validationContext ?? 'request'
    return new AppError(
      'VALIDATION_FAILED',
      `${field === where ? where : `${where} ${field}`}: ${first?.message}`,
      {
        field,
        location: error.validationContext,
        problems: error.validation.map((v) => ({ path: v.instancePath, message: v.message })),
      },
    )
  }
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new AppError('MALFORMED_URL')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new AppError('URI_TOO_LONG')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('MALFORMED_JSON')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE')
  }
  if (error instanceof SyntaxError) return new AppError('MALFORMED_JSON')
  if (isMissingUserReference(error)) {
    return new AppError('UNAUTHENTICATED', 'The account of this access token no longer exists.')
  }
  if (typeof error.code === 'string' && unstorableValueStates.has(error.code)) {
    return new AppError('VALIDATION_FAILED', UNSTORABLE_MESSAGE)
  }
  if (error.statusCode === 404) return new AppError('ROUTE_NOT_FOUND')
  if (error.statusCode === 429) return new AppError('RATE_LIMITED')
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('BAD_REQUEST', error.message)
  }
  return new AppError('INTERNAL_ERROR')
}

/** The catalog body as the HTTP reply to a request that could not be parsed, written straight to the socket. */
function rawErrorResponse(code: ErrorCode, message: string = errorCatalog[code].message): string {
  const { status } = errorCatalog[code]
  const body = JSON.stringify({ code, message })
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `${Object.entries(securityHeaders)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}connection: close\r\n\r\n${body}`
  )
}

/**
 * Node's HTTP parser refused the request (bad request line, unknown method, headers past the limit) or it did not
 * arrive within the request timeout: answer with the catalog body and close, as the connection cannot be reused.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const code: ErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : 'BAD_REQUEST'
  const message = code === 'BAD_REQUEST' ? 'The request is not valid HTTP/1.1.' : undefined
  if (socket.writable) socket.end(rawErrorResponse(code, message))
  socket.destroy()
}

function createAjv(coerceTypes: boolean | 'array'): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
    addUsedSchema: false,
  })
  addFormats(ajv)
  return ajv
}

/**
 * Path, query and header values arrive as strings and are coerced to their schema types; a JSON body is taken as
 * sent, so `{"amount": true}` or `{"amount": "5"}` is refused instead of being read as a number.
 */
const validators = { body: createAjv(false), other: createAjv('array') }

/**
 * Fastify's own response serializers (fast-json-stringify), built once per distinct schema: every route's error
 * statuses are the same `Error` body under different descriptions, and a second instance in one process (tests,
 * the benchmark) has the same routes again. Building them was a third of the CPU of starting the service.
 */
function memoizedSerializers() {
  const build = SerializerSelector()
  const bySetting = new Map<string, Map<string, (data: unknown) => string>>()
  // What a serializer does not depend on: the words around a schema (a property *named* description is an object).
  const shape = (key: string, value: unknown) =>
    (key === 'description' || key === 'title') && typeof value === 'string' ? undefined : value
  return (externalSchemas: unknown, options: unknown) => {
    const compile = build(externalSchemas as never, options as never)
    const setting = JSON.stringify([externalSchemas, options], shape)
    const cache = bySetting.get(setting) ?? new Map<string, (data: unknown) => string>()
    bySetting.set(setting, cache)
    return (route: Parameters<typeof compile>[0]) => {
      const key = JSON.stringify(route.schema, shape)
      const known = cache.get(key)
      if (known) return known
      const serialize = compile(route) as (data: unknown) => string
      cache.set(key, serialize)
      return serialize
    }
  }
}
const buildSerializer = memoizedSerializers()

/**
 * Answers a catalog error straight away, its body serialized once per code: for outcomes a crowd produces by the
 * thousand (a lost seat race), skipping the throw, Fastify's error path and the serializer. The same status, body
 * and headers as a thrown AppError without details or Retry-After.
 */
export function answerCatalogError(reply: FastifyReply, code: ErrorCode): FastifyReply {
  let body = catalogBodies.get(code)
  if (body === undefined) {
    body = JSON.stringify({ code, message: errorCatalog[code].message })
    catalogBodies.set(code, body)
  }
  return reply.status(errorCatalog[code].status).type('application/json; charset=utf-8').send(body)
}
const catalogBodies = new Map<ErrorCode, string>()

export interface HttpServerOptions {
  logger: FastifyServerOptions['loggerInstance']
  metrics: Metrics
  docs?: { title: string; version: string; description: string }
  /** A request (headers and body) must arrive within this; then 408 and the connection is closed. */
  requestTimeoutMs?: number
}

function sendError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const appError = isAppError(error) ? error : translateFrameworkError(error)
  if (appError.status >= 500 && appError.code === 'INTERNAL_ERROR') {
    request.log.error({ err: error }, 'request failed')
  }
  if (appError.retryAfterSeconds !== undefined) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(appError.retryAfterSeconds))))
  }
  reply.status(appError.status).send({
    code: appError.code,
    message: appError.message,
    ...(appError.details ? { details: appError.details } : {}),
  })
}

/** Fastify with TypeBox, the error catalog, OpenAPI and /docs; slices register their routes as plugins. */
export async function createHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const requestTimeout = options.requestTimeoutMs ?? 30_000
  const app = Fastify({
    // A body that never finishes would otherwise hold its connection forever (Fastify's default is no limit). Node
    // checks the deadline every connectionsCheckingInterval, so that runs often enough for the limit to mean it.
    requestTimeout,
    http: {
      headersTimeout: Math.min(60_000, requestTimeout),
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))),
    },
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
    // A bad URL escape or an over-long path parameter goes through the error handler like any other error.
    frameworkErrors: (error, request, reply) => {
      reply.headers(securityHeaders)
      sendError(error as FastifyError, request, reply)
    },
    // Through the factory, so plugins that add shared schemas (a new schema scope) keep these validators too.
    schemaController: {
      compilersFactory: {
        buildValidator:
          () =>
          ({ schema, httpPart }) =>
            validators[httpPart === 'body' ? 'body' : 'other'].compile(schema) as never,
        buildSerializer: buildSerializer as never,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(securityHeaders)
    done()
  })
  app.addSchema(ErrorBody)
  // Every body is JSON: without this, Fastify's default text/plain parser lets a string through to validation.
  app.removeContentTypeParser('text/plain')
  // Fastify's own JSON parser, then a refusal of half a surrogate pair (an escape like \ud800 alone): such a string
  // is valid JSON, but PostgreSQL refuses it in jsonb (an idempotency record, an event) and that came back as a 500.
  const parseJson = app.getDefaultJsonParser(
    app.initialConfig.onProtoPoisoning ?? 'error',
    app.initialConfig.onConstructorPoisoning ?? 'error',
  )
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, body as string, (error, value) => {
      if (error) return done(error)
      // Only an escape can carry one: a raw lone surrogate is not UTF-8, and the body's decoding replaces it.
      if ((body as string).includes('\\u') && !isWellFormedJson(value)) {
        return done(new AppError('VALIDATION_FAILED', UNSTORABLE_MESSAGE))
      }
      done(null, value)
    })
  })

  // The extra listening sockets of listenShared stop taking connections when closing starts, as the server's own does.
  app.addHook('preClose', (done) => {
    for (const socket of sharedSockets.get(app as unknown as HttpServer)?.splice(0) ?? []) socket.close()
    done()
  })
  app.setErrorHandler(sendError)
  app.setNotFoundHandler((_request, reply) => {
    reply.status(404).send({ code: 'ROUTE_NOT_FOUND', message: errorCatalog.ROUTE_NOT_FOUND.message })
  })

  // One series per method, route and status, kept (see SeriesHistogram: prom-client's observe checks and joins the
  // labels on every answer).
  const durations = new Map<string, HistogramSeries>()
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const key = `${request.method} ${reply.statusCode} ${route}`
    let duration = durations.get(key)
    if (!duration) {
      duration = options.metrics.httpDuration.series({
        method: request.method,
        route,
        status: String(reply.statusCode),
      })
      durations.set(key, duration)
    }
    duration.observe(reply.elapsedTime / 1000)
    done()
  })

  const docs = options.docs ?? { title: 'Ticketing API', version: '0', description: '' }
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: docs,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Access token from /auth/sign-in' },
          queueToken: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Queue-Token',
            description: 'Admitted queue token',
          },
          adminKey: { type: 'apiKey', in: 'header', name: 'X-Admin-Key', description: 'Organizer key' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  })
  // Its own policy for its pages (scripts and styles from /docs/static, by hash where inline), and a document's headers.
  await app.register(async (scope) => {
    scope.addHook('onRequest', (_request, reply, done) => {
      reply.headers(documentHeaders)
      done()
    })
    await scope.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
  })
  return app as unknown as HttpServer
}

/** Each server's extra listening sockets (listenShared), closed by its preClose hook. */
const sharedSockets = new WeakMap<HttpServer, Server[]>()

/**
 * Listens with `sockets` listening sockets on the one port (SO_REUSEPORT: the kernel spreads new connections over
 * them), each handing its connections to the same HTTP server. libuv takes one new connection per listening socket
 * per turn of the event loop; while a sale keeps the loop busy, a crowd's new connections waited behind a single
 * socket in the kernel's accept queue (90 of them at once in a benchmark's first wave, taken about 20 a second,
 * answered after 1.2–2.9 s). Linux only: elsewhere SO_REUSEPORT does not spread connections, so one socket.
 */
export async function listenShared(
  http: HttpServer,
  options: { port: number; host: string; sockets: number },
): Promise<string> {
  const sockets = process.platform === 'linux' ? options.sockets : 1
  const address = await http.listen({
    port: options.port,
    host: options.host,
    ...(sockets > 1 ? { reusePort: true } : {}),
  })
  if (sockets === 1) return address
  const bound = http.server.address() as AddressInfo
  const extra: Server[] = []
  sharedSockets.set(http, extra)
  for (let i = 1; i < sockets; i++) {
    const socket = createServer((connection) => http.server.emit('connection', connection))
    extra.push(socket)
    socket.listen({ port: bound.port, host: bound.address, reusePort: true })
    await once(socket, 'listening')
  }
  return address
}
