import { NonRetryableError } from '../events/index.ts'

export interface ReservationRecord {
  reservationId: string
  paymentId: string
  scheduleId: string
  concertId: string
  seatId: string
  seatLabel: string
  userId: string
  price: number
  discount: number
  amount: number
  couponId: string | null
  confirmedAt: string
}

/** The data platform as the sync needs it: one idempotent call per confirmed reservation. */
export interface DataPlatformClient {
  /** Resolves when the platform accepted the record; throws a retryable error for timeouts and 5xx. */
  sendReservation(record: ReservationRecord, idempotencyKey: string, signal: AbortSignal): Promise<void>
}

export class PartnerUnavailableError extends Error {
  override name = 'PartnerUnavailableError'
}

/** HTTP client: POST JSON with `Idempotency-Key`; 408, 429 and 5xx and timeouts retry, other 4xx never will. */
export function createHttpDataPlatformClient(options: {
  url: string
  timeoutMs: number
  authHeader?: string | undefined
}): DataPlatformClient {
  const auth = parseHeader(options.authHeader)
  return {
    async sendReservation(record, idempotencyKey, signal) {
      let response: Response
      try {
        response = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': idempotencyKey,
            ...(auth ? { [auth.name]: auth.value } : {}),
          },
          body: JSON.stringify(record),
          signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]),
        })
      } catch (error) {
        signal.throwIfAborted()
        throw new PartnerUnavailableError(`data platform unreachable: ${(error as Error).message}`)
      }
      await response.arrayBuffer().catch(() => undefined)
      if (response.ok) return
      if (response.status === 408 || response.status === 429 || response.status >= 500) {
        throw new PartnerUnavailableError(`data platform answered ${response.status}`)
      }
      throw new NonRetryableError(`data platform refused the record: ${response.status}`)
    },
  }
}

/** `Name: value` → header; undefined when not set. */
export function parseHeader(raw: string | undefined): { name: string; value: string } | undefined {
  if (!raw) return undefined
  const at = raw.indexOf(':')
  if (at <= 0) throw new Error('DATA_PLATFORM_AUTH_HEADER must look like "Authorization: Bearer <token>"')
  return { name: raw.slice(0, at).trim().toLowerCase(), value: raw.slice(at + 1).trim() }
}
