import type { FastifyReply } from 'fastify'
import { AppError } from '../platform/errors.ts'

/** One open Server-Sent Events response. */
export interface EventStream {
  /** Writes one event; a closed stream ignores it. */
  send(event: string, data: unknown): void
  /** Ends the response (the client's EventSource reconnects unless the page closes it). */
  close(): void
  readonly closed: boolean
  /** Runs once when the stream ends, whoever ended it. */
  onClose(callback: () => void): void
}

/** What a HEAD request gets: a stream that was never open. */
const endedStream: EventStream = {
  closed: true,
  send() {},
  close() {},
  onClose(callback) {
    callback()
  },
}

/**
 * The open streams of this instance, bounded by a cap: a stream past it is refused with STREAMS_AT_CAPACITY
 * before any byte is written, so the client sees an ordinary 503 with the error body.
 */
export class StreamRegistry {
  readonly #open = new Set<EventStream>()
  readonly #max: number
  readonly #heartbeatMs: number
  readonly #onCount: (kind: string, delta: number) => void

  constructor(options: {
    max: number
    heartbeatMs: number
    onCount?: (kind: string, delta: number) => void
  }) {
    this.#max = options.max
    this.#heartbeatMs = options.heartbeatMs
    this.#onCount = options.onCount ?? (() => {})
  }

  get size(): number {
    return this.#open.size
  }

  /** Throws STREAMS_AT_CAPACITY when the cap is reached; call it before any asynchronous work of the route. */
  reserve(): void {
    if (this.#open.size >= this.#max) throw new AppError('STREAMS_AT_CAPACITY', undefined, { max: this.#max })
  }

  /**
   * Takes the response over and starts the event stream on it. A HEAD request gets the stream's headers and an
   * ended response (a stream that is already closed): HEAD has no body, so an open one would never end, and the
   * next request on the same connection would wait behind it forever.
   */
  open(reply: FastifyReply, kind: string): EventStream {
    this.reserve()
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // proxies such as nginx must not buffer the stream
      'x-accel-buffering': 'no',
    })
    if (reply.request.method === 'HEAD') {
      raw.end()
      return endedStream
    }
    raw.write(': open\n\n')
    const callbacks: (() => void)[] = []
    let closed = false
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), this.#heartbeatMs)
    heartbeat.unref()
    const stream: EventStream = {
      get closed() {
        return closed
      },
      send(event, data) {
        if (closed) return
        raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      },
      close() {
        if (closed) return
        end()
        raw.end()
      },
      onClose(callback) {
        if (closed) callback()
        else callbacks.push(callback)
      },
    }
    const end = () => {
      if (closed) return
      closed = true
      clearInterval(heartbeat)
      this.#open.delete(stream)
      this.#onCount(kind, -1)
      for (const callback of callbacks.splice(0)) callback()
    }
    // the response closes when the client goes away (or the stream is ended here)
    raw.on('close', end)
    this.#open.add(stream)
    this.#onCount(kind, 1)
    return stream
  }

  /** Ends every stream (at shutdown, so the server can close). */
  closeAll(): void {
    for (const stream of [...this.#open]) stream.close()
  }
}
