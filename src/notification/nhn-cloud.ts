import { NonRetryableError } from '../platform/errors.ts'
import { postJson } from '../platform/partner-http.ts'

/**
 * NHN Cloud Notification APIs (KakaoTalk Bizmessage and SMS) answer HTTP 200 for most refusals and say so in the
 * body: `header.isSuccessful`, `header.resultCode`, and a result per recipient. Outages (timeouts, 408, 429, 5xx)
 * are retryable through postJson; a refusal in the body is not (a wrong template, a blocked number).
 */
export async function postNhn(
  url: string,
  secretKey: string,
  body: unknown,
  call: { idempotencyKey: string; signal: AbortSignal; timeoutMs: number; partner: string },
): Promise<void> {
  const answer = (await postJson(url, body, {
    ...call,
    headers: { 'x-secret-key': secretKey, 'content-type': 'application/json;charset=UTF-8' },
  })) as NhnAnswer | undefined
  const header = answer?.header
  if (header?.isSuccessful !== true) {
    throw new NonRetryableError(
      `${call.partner} refused the message: ${header?.resultCode ?? '?'} ${header?.resultMessage ?? 'no result header'}`,
    )
  }
  const results = answer?.message?.sendResults ?? answer?.body?.data?.sendResultList ?? []
  const refused = results.find((r) => r.resultCode !== 0)
  if (refused) {
    throw new NonRetryableError(
      `${call.partner} refused the recipient: ${refused.resultCode} ${refused.resultMessage}`,
    )
  }
}

interface NhnResult {
  resultCode: number
  resultMessage?: string
}

interface NhnAnswer {
  header?: { isSuccessful?: boolean; resultCode?: number; resultMessage?: string }
  /** KakaoTalk Bizmessage */
  message?: { requestId?: string; sendResults?: NhnResult[] }
  /** SMS */
  body?: { data?: { requestId?: string; sendResultList?: NhnResult[] } }
}
