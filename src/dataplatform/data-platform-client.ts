import { parseHeader, postJson } from '../platform/partner-http.ts'

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

/**
 * A correction of a reservation record already sent: the same `reservationId` (the platform's key for the record),
 * with `correction: 'refunded'`, what was given back and when. Sent to the same URL as the reservations.
 */
export interface ReservationCorrection {
  reservationId: string
  correction: 'refunded'
  paymentId: string
  scheduleId: string
  concertId: string
  seatId: string
  seatLabel: string
  userId: string
  refundedAmount: number
  couponId: string | null
  couponRestored: boolean
  refundedBy: 'fan' | 'organizer'
  refundedAt: string
}

/** The data platform as the sync needs it: one idempotent call per confirmed reservation, and per correction. */
export interface DataPlatformClient {
  /** Resolves when the platform accepted the record; throws a retryable error for timeouts and 5xx. */
  sendReservation(
    record: ReservationRecord | ReservationCorrection,
    idempotencyKey: string,
    signal: AbortSignal,
  ): Promise<void>
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
      await postJson(options.url, record, {
        idempotencyKey,
        signal,
        timeoutMs: options.timeoutMs,
        headers: auth ? { [auth.name]: auth.value } : undefined,
        partner: 'the data platform',
      })
    },
  }
}
