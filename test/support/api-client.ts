export interface ApiResponse<T = any> {
  status: number
  body: T
  headers: Headers
}

/**
 * How long a request may go unanswered before it fails naming itself: a test's own timeout (300 s, as long as
 * undici's headers timeout) only says that the test took too long, and a file that hangs is ended for silence later.
 */
const ANSWER_WITHIN_MS = 60_000

/** A tiny JSON client over real HTTP (Node's fetch), so tests see exactly what a fan's app sees. */
export class Api {
  readonly baseUrl: string
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl
  }

  async request<T = any>(
    method: string,
    path: string,
    options: {
      body?: unknown
      token?: string
      headers?: Record<string, string>
      raw?: string
      /** Fail if the whole answer has not arrived by then (default 60 s). */
      answerWithinMs?: number
    } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token) headers.authorization = `Bearer ${options.token}`
    let body: string | undefined
    if (options.raw !== undefined) {
      body = options.raw
      headers['content-type'] ??= 'application/json'
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers['content-type'] = 'application/json'
    }
    const limitMs = options.answerWithinMs ?? ANSWER_WITHIN_MS
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), limitMs)
    let response: Response
    let text: string
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        signal: abort.signal,
        ...(body !== undefined ? { body } : {}),
      })
      text = await response.text()
    } catch (error) {
      if (!abort.signal.aborted) throw error
      throw new Error(`${method} ${path}: no answer within ${limitMs / 1000} s`, { cause: error })
    } finally {
      clearTimeout(timer)
    }
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      // not JSON (metrics, docs)
    }
    return { status: response.status, body: parsed as T, headers: response.headers }
  }

  get<T = any>(path: string, options?: Parameters<Api['request']>[2]) {
    return this.request<T>('GET', path, options)
  }
  post<T = any>(path: string, options?: Parameters<Api['request']>[2]) {
    return this.request<T>('POST', path, options)
  }
  delete<T = any>(path: string, options?: Parameters<Api['request']>[2]) {
    return this.request<T>('DELETE', path, options)
  }
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: any
  /** Whether the server closed the connection after answering. */
  closed: boolean
}

/**
 * Writes `request` as bytes on a new TCP connection and reads the answer until the server closes it or `waitMs`
 * passes: for requests fetch will not send (bad escapes, unknown methods, huge headers, a body that never ends).
 */
export async function rawRequest(baseUrl: string, request: string, waitMs = 3000): Promise<RawResponse> {
  const { connect } = await import('node:net')
  const url = new URL(baseUrl)
  const text = await new Promise<{ text: string; closed: boolean }>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(request))
    let out = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ text: out, closed: false })
    }, waitMs)
    socket.on('data', (chunk) => {
      out += chunk.toString('latin1')
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ text: out, closed: true })
    })
  })
  const [head = '', ...rest] = text.text.split('\r\n\r\n')
  const [statusLine = '', ...headerLines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const at = line.indexOf(':')
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  const bodyText = rest.join('\r\n\r\n')
  let body: unknown = bodyText
  try {
    body = bodyText ? JSON.parse(bodyText) : undefined
  } catch {
    // not JSON
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body, closed: text.closed }
}
