import { NonRetryableError } from './errors.ts'

/** A partner that cannot take the call now (unreachable, timed out, 408, 429, 5xx): trying again later may work. */
export class PartnerUnavailableError extends Error {
  override name = 'PartnerUnavailableError'
  readonly retryable = true
}

export interface PartnerCall {
  /** Sent as `Idempotency-Key`: the partner deduplicates retries by it. */
  idempotencyKey: string
  signal: AbortSignal
  timeoutMs: number
  headers?: Record<string, string> | undefined
  /** Names the partner in error messages. */
  partner: string
}

/**
 * POSTs JSON to a partner. Resolves on 2xx (with the parsed body, if any); throws PartnerUnavailableError for
 * outages, timeouts, 408, 429 and 5xx (retry later) and NonRetryableError for any other answer (the partner refused
 * this message: retrying cannot help). An abort of `signal` (shutdown) is rethrown as is.
 */
export async function postJson(url: string, body: unknown, call: PartnerCall): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': call.idempotencyKey,
        ...call.headers,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.any([call.signal, AbortSignal.timeout(call.timeoutMs)]),
    })
  } catch (error) {
    call.signal.throwIfAborted()
    throw new PartnerUnavailableError(`${call.partner} unreachable: ${(error as Error).message}`)
  }
  const text = await response.text().catch(() => '')
  if (response.ok) {
    try {
      return text ? JSON.parse(text) : undefined
    } catch {
      return text
    }
  }
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    throw new PartnerUnavailableError(`${call.partner} answered ${response.status}`)
  }
  throw new NonRetryableError(`${call.partner} refused the message: ${response.status} ${text.slice(0, 200)}`)
}

/** `Name: value` → header; undefined when not set. */
export function parseHeader(raw: string | undefined): { name: string; value: string } | undefined {
  if (!raw) return undefined
  const at = raw.indexOf(':')
  if (at <= 0)
    throw new Error(`a header must look like "Authorization: Bearer <token>" (got ${raw.slice(0, 40)})`)
  return { name: raw.slice(0, at).trim().toLowerCase(), value: raw.slice(at + 1).trim() }
}
