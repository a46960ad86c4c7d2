import { randomUUID } from 'node:crypto'
import { type ReceivedRequest, Receiver } from './receiver.ts'

/**
 * Toss Payments on loopback, speaking its confirm-payment API: `POST /v1/payments/confirm` with `Authorization: Basic
 * base64("<secret key>:")` and `{paymentKey, orderId, amount}`, answering a Payment object (`status: "DONE"`,
 * `totalAmount`, …) or `{code, message}` errors: 401 UNAUTHORIZED_KEY, 404 NOT_FOUND_PAYMENT, 400 INVALID_REQUEST for
 * another order or amount, 400 ALREADY_PROCESSED_PAYMENT for a second confirm; a repeated `Idempotency-Key` gets the
 * first answer again. `pay` is what the fan's payment window does: it creates the payment the server then confirms.
 */
export async function startTossPayments(options: { secretKey: string }) {
  const payments = new Map<string, { orderId: string; amount: number; confirmed: boolean }>()
  const answers = new Map<string, { status: number; body: unknown }>()
  const expectedAuth = `Basic ${Buffer.from(`${options.secretKey}:`).toString('base64')}`
  const error = (status: number, code: string, message: string) => ({ status, body: { code, message } })

  function confirm(r: ReceivedRequest): { status: number; body: unknown } {
    if (r.method !== 'POST' || r.path !== '/v1/payments/confirm')
      return error(404, 'NOT_FOUND', 'no such API')
    if (r.headers.authorization !== expectedAuth) {
      return error(401, 'UNAUTHORIZED_KEY', '인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.')
    }
    const { paymentKey, orderId, amount } = (r.body ?? {}) as Record<string, unknown>
    const payment = typeof paymentKey === 'string' ? payments.get(paymentKey) : undefined
    if (!payment) return error(404, 'NOT_FOUND_PAYMENT', '존재하지 않는 결제 정보 입니다.')
    if (payment.orderId !== orderId || payment.amount !== amount) {
      return error(400, 'INVALID_REQUEST', '잘못된 요청입니다.')
    }
    if (payment.confirmed) return error(400, 'ALREADY_PROCESSED_PAYMENT', '이미 처리된 결제 입니다.')
    payment.confirmed = true
    const now = new Date().toISOString()
    return {
      status: 200,
      body: {
        mId: 'tosspayments',
        version: '2022-11-16',
        paymentKey,
        orderId,
        orderName: 'points',
        status: 'DONE',
        requestedAt: now,
        approvedAt: now,
        currency: 'KRW',
        totalAmount: amount,
        balanceAmount: amount,
        suppliedAmount: Math.round((amount as number) / 1.1),
        vat: (amount as number) - Math.round((amount as number) / 1.1),
        method: '카드',
      },
    }
  }

  const receiver = await Receiver.start({
    respond(r) {
      const key = r.key
      const known = key ? answers.get(key) : undefined
      if (known) return known
      const answer = confirm(r)
      if (key && answer.status < 500) answers.set(key, answer)
      return answer
    },
  })
  return {
    receiver,
    url: receiver.url('').replace(/\/$/, ''),
    /** The fan pays `amount` for `orderId` in the payment window; the provider hands back a paymentKey. */
    pay(orderId: string, amount: number): string {
      const paymentKey = `tgen_${randomUUID().replaceAll('-', '')}`
      payments.set(paymentKey, { orderId, amount, confirmed: false })
      return paymentKey
    },
    confirmCalls(orderId?: string): ReceivedRequest[] {
      return receiver.requestsWhere(
        (r) => r.path === '/v1/payments/confirm' && (orderId === undefined || r.body?.orderId === orderId),
      )
    },
    close: () => receiver.close(),
  }
}
