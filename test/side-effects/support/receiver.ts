import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * How the partner behaves right now:
 * - `ok`: records the request (once per idempotency key) and answers 200;
 * - `down`: the server is closed, so connections are refused;
 * - `slow`: answers only after `slowMs` (past the client's timeout), but still records the request, like a partner
 *   that committed and whose answer was lost: the client's retry must then be absorbed by the idempotency key;
 * - `5xx`: answers 503 without recording; `4xx`: answers 400 without recording.
 */
export type ReceiverMode = 'ok' | 'down' | 'slow' | '5xx' | '4xx'

export interface ReceivedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** The idempotency key the client sent, if any. */
  key: string | undefined
  body: any
  /** The body exactly as sent (signatures are over these bytes). */
  raw: string
  at: number
  /** The mode the request met. */
  mode: ReceiverMode
}

/** A partner's own answer to a request in mode `ok` (a provider's JSON format, a 410); undefined: the default 200. */
export type Responder = (request: ReceivedRequest) => { status: number; body?: unknown } | undefined

/**
 * A real HTTP partner on loopback (the data platform, a webhook, Slack, Discord or Telegram) that records what it
 * receives, deduplicates by `idempotency-key` as a well-behaved partner does, and can be switched at runtime to
 * refuse connections, hang past the client's timeout, or answer 5xx or 4xx.
 */
export class Receiver {
  /** Every request that reached the server, whatever it was answered. */
  readonly requests: ReceivedRequest[] = []
  /** Accepted requests, one per idempotency key (the first one). */
  readonly records = new Map<string, ReceivedRequest>()
  /** Accepted requests whose key had already been recorded (absorbed by the deduplication). */
  readonly duplicates: ReceivedRequest[] = []
  readonly slowMs: number
  /** Requests being answered right now, and the most there ever were at once. */
  inFlight = 0
  maxInFlight = 0
  readonly #respond: Responder | undefined
  readonly #server: Server
  readonly #port: number
  readonly #timers = new Set<NodeJS.Timeout>()
  #mode: ReceiverMode = 'ok'

  private constructor(server: Server, port: number, slowMs: number, respond: Responder | undefined) {
    this.#server = server
    this.#port = port
    this.slowMs = slowMs
    this.#respond = respond
  }

  static async start(options: { slowMs?: number; respond?: Responder } = {}): Promise<Receiver> {
    let receiver: Receiver | undefined
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (receiver) receiver.#onRequest(req.method ?? 'GET', req.url ?? '/', req.headers, chunks, res)
      })
    })
    server.keepAliveTimeout = 1000
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    receiver = new Receiver(server, port, options.slowMs ?? 1000, options.respond)
    return receiver
  }

  get mode(): ReceiverMode {
    return this.#mode
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${this.#port}${path}`
  }

  /** Switches behaviour; `down` closes the listening socket and every open connection, leaving it re-listens. */
  async setMode(mode: ReceiverMode): Promise<void> {
    if (mode === this.#mode) return
    const wasDown = this.#mode === 'down'
    this.#mode = mode
    if (mode === 'down') await this.#stopListening()
    else if (wasDown) {
      this.#server.listen(this.#port, '127.0.0.1')
      await once(this.#server, 'listening')
    }
  }

  /** Accepted records whose body passes `filter` (scoping to the entities of one test run). */
  recordsWhere(filter: (r: ReceivedRequest) => boolean): ReceivedRequest[] {
    return [...this.records.values()].filter(filter)
  }

  requestsWhere(filter: (r: ReceivedRequest) => boolean): ReceivedRequest[] {
    return this.requests.filter(filter)
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    if (this.#mode !== 'down') await this.#stopListening()
    this.#mode = 'down'
  }

  async #stopListening(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
  }

  #onRequest(
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
    chunks: Buffer[],
    res: ServerResponse,
  ): void {
    const text = Buffer.concat(chunks).toString('utf8')
    let body: unknown = text
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      // kept as text
    }
    const key = typeof headers['idempotency-key'] === 'string' ? headers['idempotency-key'] : undefined
    const request: ReceivedRequest = {
      method,
      path,
      headers,
      key,
      body,
      raw: text,
      at: Date.now(),
      mode: this.#mode,
    }
    this.requests.push(request)
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    res.on('close', () => this.inFlight--)
    const accept = () => {
      const id = key ?? `no-key-${this.requests.length}`
      if (this.records.has(id)) this.duplicates.push(request)
      else this.records.set(id, request)
    }
    const answer = (status: number, payload: unknown) => {
      if (res.destroyed || res.writableEnded) return
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(payload))
    }
    switch (request.mode) {
      case 'ok':
      case 'down': {
        // (a request in `down` raced the close)
        const own = this.#respond?.(request)
        if (own && (own.status < 200 || own.status > 299)) {
          answer(own.status, own.body ?? {})
          return
        }
        accept()
        answer(own?.status ?? 200, own ? own.body : { ok: true })
        return
      }
      case 'slow': {
        const timer = setTimeout(() => {
          this.#timers.delete(timer)
          accept()
          answer(200, { ok: true })
        }, this.slowMs)
        this.#timers.add(timer)
        return
      }
      case '5xx':
        answer(503, { error: 'unavailable' })
        return
      case '4xx':
        answer(400, { error: 'rejected' })
        return
    }
  }
}
