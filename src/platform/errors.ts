/**
 * The one catalog of error codes. A code is never reused for another meaning.
 * `retryable` tells a consumer whether trying the same work again could succeed.
 */
export const errorCatalog = {
  VALIDATION_FAILED: { status: 400, retryable: false, message: 'The request is not valid.' },
  MALFORMED_JSON: { status: 400, retryable: false, message: 'The request body is not valid JSON.' },
  BAD_REQUEST: { status: 400, retryable: false, message: 'The request cannot be processed as sent.' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, message: 'Send the body as application/json.' },
  // Refused before any route runs (issue #8): a bad URL escape, an over-long path, headers past the limit, a body
  // that never finished.
  MALFORMED_URL: { status: 400, retryable: false, message: 'The URL has an invalid percent-encoding.' },
  URI_TOO_LONG: { status: 414, retryable: false, message: 'A path segment is too long.' },
  HEADERS_TOO_LARGE: { status: 431, retryable: false, message: 'The request headers are too large.' },
  REQUEST_TIMEOUT: {
    status: 408,
    retryable: true,
    message: 'The request did not arrive in time; send it again.',
  },
  IDEMPOTENCY_KEY_REQUIRED: {
    status: 400,
    retryable: false,
    message: 'This operation needs an Idempotency-Key header.',
  },
  UNAUTHENTICATED: { status: 401, retryable: false, message: 'A valid access token is required.' },
  INVALID_CREDENTIALS: { status: 401, retryable: false, message: 'Email or password is wrong.' },
  ADMIN_KEY_INVALID: { status: 401, retryable: false, message: 'A valid X-Admin-Key header is required.' },
  METRICS_TOKEN_INVALID: {
    status: 401,
    retryable: false,
    message: 'Metrics need the metrics token as Authorization: Bearer.',
  },
  QUEUE_TOKEN_INVALID: {
    status: 401,
    retryable: false,
    message: 'The queue token is missing, forged or malformed.',
  },
  QUEUE_TOKEN_EXPIRED: {
    status: 401,
    retryable: false,
    message: 'The queue token has expired; re-enter the queue.',
  },
  QUEUE_TOKEN_REVOKED: {
    status: 401,
    retryable: false,
    message: 'This admission was spent by a payment or given back; re-enter the queue.',
  },
  INSUFFICIENT_POINTS: {
    status: 402,
    retryable: false,
    message: 'The point balance is too low for this payment.',
  },
  FORBIDDEN: { status: 403, retryable: false, message: 'This resource belongs to someone else.' },
  QUEUE_NOT_ADMITTED: {
    status: 403,
    retryable: false,
    message: 'The queue token does not admit you to this schedule.',
  },
  COUPON_NOT_OWNED: { status: 403, retryable: false, message: 'This coupon was not issued to you.' },
  ROUTE_NOT_FOUND: { status: 404, retryable: false, message: 'No such route.' },
  USER_NOT_FOUND: { status: 404, retryable: false, message: 'No such user.' },
  CONCERT_NOT_FOUND: { status: 404, retryable: false, message: 'No such concert.' },
  SCHEDULE_NOT_FOUND: { status: 404, retryable: false, message: 'No such schedule.' },
  SEAT_NOT_FOUND: { status: 404, retryable: false, message: 'No such seat in this schedule.' },
  RESERVATION_NOT_FOUND: { status: 404, retryable: false, message: 'No such reservation.' },
  COUPON_NOT_FOUND: { status: 404, retryable: false, message: 'No such coupon.' },
  DEAD_LETTER_NOT_FOUND: { status: 404, retryable: false, message: 'No such dead letter.' },
  DEAD_LETTER_NOT_REPLAYABLE: {
    status: 409,
    retryable: false,
    message: 'This dead letter was already replayed or is not a valid event.',
  },
  COUPON_REQUEST_NOT_FOUND: { status: 404, retryable: false, message: 'No such coupon request.' },
  QUEUE_ENTRY_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'You are not in the queue for this schedule.',
  },
  EMAIL_TAKEN: { status: 409, retryable: false, message: 'An account with this email already exists.' },
  SEAT_ALREADY_HELD: { status: 409, retryable: false, message: 'Someone else holds or bought this seat.' },
  HOLD_LIMIT_REACHED: {
    status: 409,
    retryable: false,
    message: 'You already hold the maximum number of seats.',
  },
  RESERVATION_NOT_PAYABLE: {
    status: 409,
    retryable: false,
    message: 'This reservation is already paid or cancelled.',
  },
  COUPON_ALREADY_USED: { status: 409, retryable: false, message: 'This coupon has already been used.' },
  COUPON_ALREADY_GRANTED: { status: 409, retryable: false, message: 'This user already owns this coupon.' },
  COUPON_SOLD_OUT: { status: 409, retryable: false, message: 'No coupons of this kind are left.' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    retryable: false,
    message: 'This Idempotency-Key was used with a different request.',
  },
  HOLD_EXPIRED: {
    status: 410,
    retryable: false,
    message: 'The hold expired before payment; the seat is released.',
  },
  // Organizer webhooks, phone verification and push tokens (issue #10).
  WEBHOOK_URL_NOT_ALLOWED: {
    status: 400,
    retryable: false,
    message:
      'Webhook URLs must be https and reach a public address (no loopback, private or link-local hosts).',
  },
  WEBHOOK_HOST_UNRESOLVABLE: {
    status: 400,
    retryable: false,
    message: "The webhook URL's host name does not resolve.",
  },
  WEBHOOK_ENDPOINT_NOT_FOUND: { status: 404, retryable: false, message: 'No such webhook endpoint.' },
  WEBHOOK_DELIVERY_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'No such delivery for this webhook endpoint.',
  },
  WEBHOOK_NOTICE_NOT_FOUND: { status: 404, retryable: false, message: 'No such webhook notice.' },
  WEBHOOK_ENDPOINT_DISABLED: {
    status: 409,
    retryable: false,
    message: 'This webhook endpoint is disabled; enable it first.',
  },
  WEBHOOK_ENDPOINT_LIMIT_REACHED: {
    status: 409,
    retryable: false,
    message: 'The maximum number of webhook endpoints is registered.',
  },
  PUSH_TOKEN_NOT_FOUND: { status: 404, retryable: false, message: 'No such push token for this user.' },
  SMS_NOT_CONFIGURED: {
    status: 503,
    retryable: false,
    message: 'This deployment has no SMS channel, so phone numbers cannot be verified.',
  },
  PHONE_VERIFICATION_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'No phone verification is pending; ask for a new code.',
  },
  PHONE_CODE_INVALID: { status: 422, retryable: false, message: 'The verification code is wrong.' },
  PHONE_CODE_EXPIRED: {
    status: 410,
    retryable: false,
    message: 'The verification code has expired; ask for a new one.',
  },
  PHONE_CODE_ATTEMPTS_EXCEEDED: {
    status: 429,
    retryable: false,
    message: 'Too many wrong codes; ask for a new one.',
  },
  // Refunds and waiting lists (issue #10).
  RESERVATION_NOT_REFUNDABLE: {
    status: 409,
    retryable: false,
    message: 'Only a paid reservation can be refunded.',
  },
  REFUND_WINDOW_CLOSED: {
    status: 409,
    retryable: false,
    message: 'Refunds close before the show starts; ask the organizer.',
  },
  SCHEDULE_NOT_SOLD_OUT: {
    status: 409,
    retryable: false,
    message: 'Seats are still on sale: the waiting list opens when the schedule is sold out.',
  },
  WAITLIST_ENTRY_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'You are not on the waiting list of this schedule.',
  },
  SEAT_OFFERED_TO_WAITLIST: {
    status: 409,
    retryable: false,
    message: 'This seat came back and is offered to the waiting list.',
  },
  // Points (issue #8): free top-ups only as a demo; real ones through a payment provider or an organizer's grant.
  DEMO_TOP_UP_DISABLED: {
    status: 403,
    retryable: false,
    message: 'Free top-ups are off here: buy points with a top-up order.',
  },
  TOP_UP_NOT_CONFIGURED: {
    status: 503,
    retryable: false,
    message: 'This deployment has no payment provider, so points cannot be bought.',
  },
  TOP_UP_ORDER_NOT_FOUND: { status: 404, retryable: false, message: 'No such top-up order.' },
  TOP_UP_AMOUNT_MISMATCH: {
    status: 422,
    retryable: false,
    message: 'The paid amount is not the amount of the order.',
  },
  TOP_UP_ALREADY_CONFIRMED: {
    status: 409,
    retryable: false,
    message: 'This top-up order was already confirmed with another payment.',
  },
  TOP_UP_PAYMENT_REFUSED: {
    status: 402,
    retryable: false,
    message: 'The payment provider refused to confirm this payment.',
  },
  PAYMENT_PROVIDER_UNAVAILABLE: {
    status: 502,
    retryable: true,
    message: 'The payment provider did not answer; confirm again (nothing is charged twice).',
  },
  STREAMS_AT_CAPACITY: {
    status: 503,
    retryable: true,
    message: 'This instance serves as many live streams as it may; try again in a few seconds.',
  },
  RATE_LIMITED: { status: 429, retryable: true, message: 'Too many requests; slow down.' },
  PASSWORD_HASHING_BUSY: {
    status: 503,
    retryable: true,
    message: 'Too many sign-ins and sign-ups at once; try again in a moment.',
  },
  NOT_READY: { status: 503, retryable: true, message: 'The service is not ready.' },
  INTERNAL_ERROR: { status: 500, retryable: true, message: 'Something went wrong on our side.' },
} as const satisfies Record<string, { status: number; retryable: boolean; message: string }>

export type ErrorCode = keyof typeof errorCatalog

/**
 * The service cannot start, for a reason a person can fix (no database or brokers in time, a wrong database name, a
 * port or data folder another process holds): the start ends with its message in one line, without a stack trace.
 */
export class StartupError extends Error {
  override name = 'StartupError'
}

/** A failure the caller can act on: carries a catalog code, and optional details (for example the invalid field). */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly retryable: boolean
  readonly details: Record<string, unknown> | undefined
  /** Sent as `Retry-After` (seconds): when trying again can succeed. */
  readonly retryAfterSeconds: number | undefined

  constructor(
    code: ErrorCode,
    message?: string,
    details?: Record<string, unknown>,
    options?: { retryAfterSeconds?: number },
  ) {
    const entry = errorCatalog[code]
    // Expected outcomes (a lost seat race) are frequent under load: skip the stack trace they never need.
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = entry.status >= 500 ? limit : 0
    super(message ?? entry.message)
    Error.stackTraceLimit = limit
    this.name = 'AppError'
    this.code = code
    this.status = entry.status
    this.retryable = entry.retryable
    this.details = details
    this.retryAfterSeconds = options?.retryAfterSeconds
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError
}

/** An error that retrying cannot fix (a 4xx from a partner, a malformed event): it goes straight to the dead letters. */
export class NonRetryableError extends Error {
  readonly retryable = false
  override name = 'NonRetryableError'
}

/** True unless the error says it cannot succeed on a retry (`retryable: false`, as AppError and NonRetryableError do). */
export function isRetryable(error: unknown): boolean {
  return !(
    error &&
    typeof error === 'object' &&
    'retryable' in error &&
    (error as { retryable: unknown }).retryable === false
  )
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 2000)
  return String(error).slice(0, 2000)
}
