import { ConfigError } from '../platform/config.ts'
import type { NotificationChannel } from './channels.ts'
import type { NotificationFacts } from './messages.ts'
import { postNhn } from './nhn-cloud.ts'
import { domesticNumber } from './phone-numbers.ts'

/**
 * KakaoTalk business messages (AlimTalk) through NHN Cloud KakaoTalk Bizmessage, API v2.3:
 * `POST {ALIMTALK_API_URL}/alimtalk/v2.3/appkeys/{appkey}/messages` with `X-Secret-Key`, a body of `senderKey`,
 * `templateCode` and `recipientList[{ recipientNo, templateParameter }]`. AlimTalk only sends templates Kakao has
 * approved; the text lives in the template, this service sends its code and the `#{variable}` values.
 */
export type AlimTalkSettings = {
  ALIMTALK_API_URL: string
  ALIMTALK_APP_KEY?: string | undefined
  ALIMTALK_SECRET_KEY?: string | undefined
  ALIMTALK_SENDER_KEY?: string | undefined
  ALIMTALK_TEMPLATES?: string | undefined
  NOTIFY_TIMEOUT_MS: number
}

type Kind = NotificationFacts['kind']

/** Template codes to register with Kakao, one per notification kind; ALIMTALK_TEMPLATES overrides any of them. */
export const defaultAlimTalkTemplates: Readonly<Record<Kind, string>> = {
  'payment-confirmed': 'TICKET_PAYMENT_CONFIRMED',
  'reservation-held': 'TICKET_SEAT_HELD',
  'reservation-expired': 'TICKET_HOLD_EXPIRED',
  'reservation-refunded': 'TICKET_REFUNDED',
  'waitlist-offer': 'TICKET_WAITLIST_OFFER',
  'queue-admitted': 'TICKET_QUEUE_ADMITTED',
  'coupon-issued': 'TICKET_COUPON_ISSUED',
  'coupon-rejected': 'TICKET_COUPON_REJECTED',
}

/** "kind=CODE,kind=CODE" over the defaults; an unknown kind stops the start naming the variable. */
export function alimTalkTemplates(raw: string | undefined): Record<Kind, string> {
  const templates = { ...defaultAlimTalkTemplates }
  for (const pair of raw ? raw.split(',') : []) {
    const [kind, code] = pair.split('=') as [string, string]
    if (!(kind in templates)) {
      throw new ConfigError(
        `Invalid configuration from the environment:\n  ALIMTALK_TEMPLATES: unknown notification kind "${kind}" ` +
          `(kinds: ${Object.keys(templates).join(', ')})`,
      )
    }
    templates[kind as Kind] = code
  }
  return templates
}

const kst = new Intl.DateTimeFormat('ko-KR', {
  timeZone: 'Asia/Seoul',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
})

/** "2026-12-25 19:00" in Korea time, as fans in Korea read it. */
export function koreaTime(iso: string | undefined): string {
  if (!iso) return ''
  const p = Object.fromEntries(kst.formatToParts(new Date(iso)).map((x) => [x.type, x.value]))
  return `${p.year}-${p.month}-${p.day} ${p.hour === '24' ? '00' : p.hour}:${p.minute}`
}

/** The `#{variable}` values of a template, from the notification's facts (every value a string, as Kakao wants). */
export function templateParameters(f: NotificationFacts): Record<string, string> {
  const params: Record<string, string | undefined> = {
    concert: f.concertTitle,
    startsAt: f.startsAt ? koreaTime(f.startsAt) : undefined,
    seat: f.seatLabel,
    amount: f.amount !== undefined ? f.amount.toLocaleString('ko-KR') : undefined,
    deadline: f.deadline ? koreaTime(f.deadline) : undefined,
    coupon: f.couponName,
    reason:
      f.reason === undefined ? undefined : f.reason === 'ALREADY_OWNED' ? '이미 보유한 쿠폰' : '선착순 마감',
  }
  return Object.fromEntries(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined))
}

/** The AlimTalk channel when ALIMTALK_APP_KEY, ALIMTALK_SECRET_KEY and ALIMTALK_SENDER_KEY are all set. */
export function createAlimTalkChannel(settings: AlimTalkSettings): NotificationChannel | undefined {
  const {
    ALIMTALK_APP_KEY: appKey,
    ALIMTALK_SECRET_KEY: secretKey,
    ALIMTALK_SENDER_KEY: senderKey,
  } = settings
  if (!appKey || !secretKey || !senderKey) return undefined
  const templates = alimTalkTemplates(settings.ALIMTALK_TEMPLATES)
  const url = `${settings.ALIMTALK_API_URL}/alimtalk/v2.3/appkeys/${encodeURIComponent(appKey)}/messages`
  return {
    name: 'alimtalk',
    audience: 'phone',
    enabledByDefault: true,
    defaultTarget: undefined,
    supports: (kind) => kind in templates,
    async send(m, phone, key, signal) {
      await postNhn(
        url,
        secretKey,
        {
          senderKey,
          templateCode: templates[m.kind as Kind],
          // NHN keeps no idempotency key; the event id as grouping key lets a duplicate be traced in its console.
          senderGroupingKey: key,
          recipientList: [
            {
              recipientNo: domesticNumber(phone),
              templateParameter: templateParameters(m.payload as unknown as NotificationFacts),
              recipientGroupingKey: m.notificationId,
            },
          ],
        },
        { idempotencyKey: key, signal, timeoutMs: settings.NOTIFY_TIMEOUT_MS, partner: 'KakaoTalk AlimTalk' },
      )
    },
  }
}
