import type { NotificationChannel } from './channels.ts'
import { postNhn } from './nhn-cloud.ts'
import { domesticNumber, eucKrBytes } from './phone-numbers.ts'

/**
 * SMS through NHN Cloud Notification SMS, API v3.0 (`X-Secret-Key`; `body`, `sendNo`, `recipientList[{recipientNo}]`):
 * `/sender/sms` for a short message (90 EUC-KR bytes), `/sender/mms` with a title for a longer one (LMS), and
 * `/sender/auth/sms` for verification codes (the provider's priority route; its text must say 인증 or verif).
 */
export type SmsSettings = {
  SMS_API_URL: string
  SMS_APP_KEY?: string | undefined
  SMS_SECRET_KEY?: string | undefined
  SMS_SENDER_NUMBER?: string | undefined
  NOTIFY_TIMEOUT_MS: number
}

export interface SmsClient {
  /** A notification: SMS when it fits 90 bytes, else LMS with the title. */
  sendText(phone: string, title: string, text: string, key: string, signal: AbortSignal): Promise<void>
  /** A verification code on the authentication route. */
  sendCode(phone: string, code: string, ttlSeconds: number, key: string, signal: AbortSignal): Promise<void>
}

const SMS_MAX_BYTES = 90

/** The SMS client when SMS_APP_KEY, SMS_SECRET_KEY and SMS_SENDER_NUMBER are all set. */
export function createSmsClient(settings: SmsSettings): SmsClient | undefined {
  const { SMS_APP_KEY: appKey, SMS_SECRET_KEY: secretKey, SMS_SENDER_NUMBER: sendNo } = settings
  if (!appKey || !secretKey || !sendNo) return undefined
  const base = `${settings.SMS_API_URL}/sms/v3.0/appKeys/${encodeURIComponent(appKey)}/sender`
  const send = (
    route: 'sms' | 'mms' | 'auth/sms',
    phone: string,
    body: object,
    key: string,
    signal: AbortSignal,
  ) =>
    postNhn(
      `${base}/${route}`,
      secretKey,
      { ...body, sendNo, senderGroupingKey: key, recipientList: [{ recipientNo: domesticNumber(phone) }] },
      { idempotencyKey: key, signal, timeoutMs: settings.NOTIFY_TIMEOUT_MS, partner: 'SMS' },
    )
  return {
    sendText: (phone, title, text, key, signal) => {
      const short = `[${title}] ${text}`
      return eucKrBytes(short) <= SMS_MAX_BYTES
        ? send('sms', phone, { body: short }, key, signal)
        : send('mms', phone, { title, body: text }, key, signal)
    },
    sendCode: (phone, code, ttlSeconds, key, signal) =>
      send(
        'auth/sms',
        phone,
        {
          body: `[티켓] 인증번호 ${code} (${Math.round(ttlSeconds / 60)}분 안에 입력) Verification code ${code}`,
        },
        key,
        signal,
      ),
  }
}

/** Notifications by SMS: opt-in (each one costs money and AlimTalk usually carries the same words). */
export function createSmsChannel(client: SmsClient): NotificationChannel {
  return {
    name: 'sms',
    audience: 'phone',
    enabledByDefault: false,
    defaultTarget: undefined,
    send: (m, phone, key, signal) => client.sendText(phone, m.title, m.body, key, signal),
  }
}
