import { AppError } from '../platform/errors.ts'

/** The part of Toss Payments' Payment object the service checks. */
export interface ConfirmedPayment {
  paymentKey: string
  orderId: string
  status: string
  totalAmount: number
}

/** A payment provider's confirm step: the client paid; the service confirms the payment and learns its amount. */
export interface PaymentProvider {
  /**
   * Confirms the payment (idempotent by orderId). Throws TOP_UP_PAYMENT_REFUSED when the provider refuses it, with the
   * provider's code in the details, and PAYMENT_PROVIDER_UNAVAILABLE when it cannot answer now.
   */
  confirm(input: { paymentKey: string; orderId: string; amount: number }): Promise<ConfirmedPayment>
}

/**
 * Toss Payments' confirm-payment API: `POST {apiUrl}/v1/payments/confirm` with `Authorization: Basic
 * base64("<secret key>:")` and `{paymentKey, orderId, amount}`; `Idempotency-Key: <orderId>:<paymentKey>` makes a
 * repeated confirm (after a lost answer) return the first result. Errors are `{code, message}` with a 4xx or 5xx status.
 */
export function createTossPayments(options: {
  apiUrl: string
  secretKey: string
  timeoutMs: number
  onProviderFault?: (message: string) => void
}): PaymentProvider {
  const url = `${options.apiUrl.replace(/\/+$/, '')}/v1/payments/confirm`
  const authorization = `Basic ${Buffer.from(`${options.secretKey}:`).toString('base64')}`
  const unavailable = (why: string) => {
    options.onProviderFault?.(why)
    return new AppError('PAYMENT_PROVIDER_UNAVAILABLE', undefined, { reason: why }, { retryAfterSeconds: 5 })
  }
  return {
    async confirm(input) {
      let response: Response
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: {
            authorization,
            'content-type': 'application/json',
            // Per order and payment: a repeat of this confirm replays its answer, another payment is asked afresh.
            'idempotency-key': `${input.orderId}:${input.paymentKey}`,
          },
          body: JSON.stringify(input),
          signal: AbortSignal.timeout(options.timeoutMs),
        })
      } catch (error) {
        throw unavailable(`Toss Payments unreachable: ${(error as Error).message}`)
      }
      const text = await response.text().catch(() => '')
      let body: Record<string, unknown> = {}
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {}
      } catch {
        // not JSON: judged by the status below
      }
      if (response.ok) {
        if (
          typeof body.paymentKey !== 'string' ||
          typeof body.orderId !== 'string' ||
          typeof body.status !== 'string' ||
          typeof body.totalAmount !== 'number'
        ) {
          throw unavailable('Toss Payments answered 2xx without a payment')
        }
        return {
          paymentKey: body.paymentKey,
          orderId: body.orderId,
          status: body.status,
          totalAmount: body.totalAmount,
        }
      }
      // Our key refused, or the provider failing: nothing the fan can change.
      if (
        response.status === 401 ||
        response.status === 403 ||
        response.status >= 500 ||
        response.status === 429
      ) {
        throw unavailable(`Toss Payments answered ${response.status} ${String(body.code ?? '')}`.trim())
      }
      throw new AppError('TOP_UP_PAYMENT_REFUSED', undefined, {
        providerCode: typeof body.code === 'string' ? body.code : `HTTP_${response.status}`,
        providerMessage: typeof body.message === 'string' ? body.message.slice(0, 500) : undefined,
      })
    },
  }
}
