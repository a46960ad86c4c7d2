import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { guardedLookup, type UrlPolicy, urlProblem, WebhookUrlRefused } from './ssrf-guard.ts'

export interface SendResult {
  /** The HTTP status, or null when no answer came (refused, unreachable, timed out). */
  status: number | null
  durationMs: number
  /** Why it failed: the status with the start of the body, or the network error. Null on 2xx. */
  error: string | null
  retryAfter: string | undefined
  /** The URL is not allowed (SSRF guard): retrying cannot help until the endpoint changes. */
  refused: boolean
}

/**
 * POSTs one signed delivery. No redirects are followed (a 3xx is a failure, as Standard Webhooks says), the whole
 * exchange is bounded by `timeoutMs`, and the host is resolved through the SSRF guard on every attempt. Never throws.
 */
export async function sendWebhook(
  target: string,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; policy: UrlPolicy; signal: AbortSignal },
): Promise<SendResult> {
  const started = performance.now()
  const done = (r: Omit<SendResult, 'durationMs'>): SendResult => ({
    ...r,
    durationMs: Math.round(performance.now() - started),
  })
  let url: URL
  try {
    url = new URL(target)
  } catch {
    return done({ status: null, error: 'invalid URL', retryAfter: undefined, refused: true })
  }
  const problem = urlProblem(url, options.policy)
  if (problem)
    return done({ status: null, error: `refused: ${problem}`, retryAfter: undefined, refused: true })

  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)])
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<SendResult>((settle) => {
    let settled = false
    const resolve = (r: SendResult) => {
      if (settled) return
      settled = true
      settle(r)
    }
    const failed = (error: Error) => {
      const timedOut = signal.aborted && !options.signal.aborted
      resolve(
        done({
          status: null,
          error: timedOut ? `timed out after ${options.timeoutMs} ms` : error.message,
          retryAfter: undefined,
          refused: error instanceof WebhookUrlRefused,
        }),
      )
    }
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'flash-sale-ticketing-webhooks/1',
          ...headers,
        },
        lookup: guardedLookup(options.policy),
        signal,
        agent: false,
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          if (size < 1024) chunks.push(chunk)
          size += chunk.length
        })
        // An abort mid-body ends in 'error' or 'close' without 'end': the attempt still settles.
        res.on('error', failed)
        res.on('close', () => failed(new Error('the connection closed before the answer ended')))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          const ok = status >= 200 && status < 300
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 200)
          const retryAfter = res.headers['retry-after']
          resolve(
            done({
              status,
              error: ok ? null : `HTTP ${status}${text ? `: ${text}` : ''}`,
              retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
              refused: false,
            }),
          )
        })
      },
    )
    req.on('error', failed)
    req.end(body)
  })
}
