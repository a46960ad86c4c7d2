import type { Config } from '../platform/config.ts'
import { NonRetryableError } from '../platform/errors.ts'
import { postJson } from '../platform/partner-http.ts'
import { createAlimTalkChannel } from './alimtalk-channel.ts'
import { createFcmChannel } from './fcm-channel.ts'
import type { NotificationMessage } from './messages.ts'
import { createSmsChannel, type SmsClient } from './sms-channel.ts'

/** Every channel a user can have a preference for (the in-app inbox is always on). */
export const channelNames = ['webhook', 'slack', 'discord', 'telegram', 'alimtalk', 'fcm', 'sms'] as const
export type ChannelName = (typeof channelNames)[number]

export interface OutboundNotification extends NotificationMessage {
  notificationId: string
  userId: string
  kind: string
  payload: Record<string, unknown>
}

/**
 * Where a channel's deliveries go: the deployment's URL, the chat id a user gave (Telegram), the user's verified phone
 * number (AlimTalk, SMS), or each of the user's registered devices (FCM, one delivery per device token).
 */
export type Audience = 'deployment' | 'chat' | 'phone' | 'device'

/** The target is gone for good (an uninstalled app's push token): the delivery fails and the target is forgotten. */
export class TargetGoneError extends NonRetryableError {
  override name = 'TargetGoneError'
}

/** One delivery channel; `send` throws a retryable error for outages and a NonRetryableError for refusals. */
export interface NotificationChannel {
  readonly name: ChannelName
  readonly audience: Audience
  /** On for a user who set no preference for it; off means opt-in. */
  readonly enabledByDefault: boolean
  /** The default target when the user set none; undefined means the channel needs a per-user target. */
  readonly defaultTarget: string | undefined
  /** Kinds this channel can carry (AlimTalk: those with a template); all when absent. */
  supports?(kind: string): boolean
  send(
    message: OutboundNotification,
    target: string,
    idempotencyKey: string,
    signal: AbortSignal,
  ): Promise<void>
}

/** The deployment settings the channels read. */
export type ChannelSettings = Pick<
  Config,
  | 'NOTIFY_WEBHOOK_URL'
  | 'SLACK_WEBHOOK_URL'
  | 'DISCORD_WEBHOOK_URL'
  | 'TELEGRAM_BOT_TOKEN'
  | 'TELEGRAM_API_URL'
  | 'NOTIFY_TIMEOUT_MS'
  | 'ALIMTALK_API_URL'
  | 'ALIMTALK_APP_KEY'
  | 'ALIMTALK_SECRET_KEY'
  | 'ALIMTALK_SENDER_KEY'
  | 'ALIMTALK_TEMPLATES'
  | 'FCM_SERVICE_ACCOUNT'
  | 'FCM_API_URL'
  | 'FCM_TOKEN_URL'
>

/** The channels configured for this deployment (each only when its URL, token or keys are set). */
export function createChannels(settings: ChannelSettings, sms?: SmsClient): NotificationChannel[] {
  const channels: NotificationChannel[] = []
  const deployment = { audience: 'deployment', enabledByDefault: true } as const
  const post = (url: string, body: unknown, idempotencyKey: string, signal: AbortSignal, partner: string) =>
    postJson(url, body, { idempotencyKey, signal, timeoutMs: settings.NOTIFY_TIMEOUT_MS, partner }).then(
      () => {},
    )
  channels.push({
    ...deployment,
    name: 'webhook',
    defaultTarget: settings.NOTIFY_WEBHOOK_URL,
    send: (m, url, key, signal) =>
      post(
        url,
        {
          id: m.notificationId,
          userId: m.userId,
          kind: m.kind,
          title: m.title,
          body: m.body,
          data: m.payload,
        },
        key,
        signal,
        'the webhook channel',
      ),
  })
  channels.push({
    ...deployment,
    name: 'slack',
    defaultTarget: settings.SLACK_WEBHOOK_URL,
    send: (m, url, key, signal) =>
      post(
        url,
        {
          text: `*${m.title}*\n${m.body}`,
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${m.title}*\n${m.body}` } }],
        },
        key,
        signal,
        'Slack',
      ),
  })
  channels.push({
    ...deployment,
    name: 'discord',
    defaultTarget: settings.DISCORD_WEBHOOK_URL,
    send: (m, url, key, signal) =>
      post(url, { content: `**${m.title}**\n${m.body}` }, key, signal, 'Discord'),
  })
  if (settings.TELEGRAM_BOT_TOKEN) {
    const token = settings.TELEGRAM_BOT_TOKEN
    channels.push({
      name: 'telegram',
      audience: 'chat',
      enabledByDefault: true,
      defaultTarget: undefined,
      send: (m, chatId, key, signal) =>
        post(
          `${settings.TELEGRAM_API_URL}/bot${token}/sendMessage`,
          { chat_id: chatId, text: `${m.title}\n${m.body}` },
          key,
          signal,
          'Telegram',
        ),
    })
  }
  const alimtalk = createAlimTalkChannel(settings)
  if (alimtalk) channels.push(alimtalk)
  const fcm = createFcmChannel(settings)
  if (fcm) channels.push(fcm)
  if (sms) channels.push(createSmsChannel(sms))
  // A deployment channel without its URL reaches no one: it is not offered, and a batch of notifications reads no
  // preferences for it.
  return channels.filter((c) => c.audience !== 'deployment' || c.defaultTarget)
}
