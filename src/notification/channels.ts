import type { Config } from '../platform/config.ts'
import { postJson } from '../platform/partner-http.ts'
import type { NotificationMessage } from './messages.ts'

/** Every channel a user can have a preference for (the in-app inbox is always on). */
export const channelNames = ['webhook', 'slack', 'discord', 'telegram', 'alimtalk', 'fcm', 'sms'] as const
export type ChannelName = (typeof channelNames)[number]

export interface OutboundNotification extends NotificationMessage {
  notificationId: string
  userId: string
  kind: string
  payload: Record<string, unknown>
}

/** One delivery channel; `send` throws a retryable error for outages and a NonRetryableError for refusals. */
export interface NotificationChannel {
  readonly name: ChannelName
  /** The default target when the user set none; undefined means the channel needs a per-user target. */
  readonly defaultTarget: string | undefined
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
>

/** The channels configured for this deployment (each only when its URL or token is set). */
export function createChannels(settings: ChannelSettings): NotificationChannel[] {
  const channels: NotificationChannel[] = []
  const post = (url: string, body: unknown, idempotencyKey: string, signal: AbortSignal, partner: string) =>
    postJson(url, body, { idempotencyKey, signal, timeoutMs: settings.NOTIFY_TIMEOUT_MS, partner }).then(
      () => {},
    )
  channels.push({
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
    name: 'discord',
    defaultTarget: settings.DISCORD_WEBHOOK_URL,
    send: (m, url, key, signal) =>
      post(url, { content: `**${m.title}**\n${m.body}` }, key, signal, 'Discord'),
  })
  if (settings.TELEGRAM_BOT_TOKEN) {
    const token = settings.TELEGRAM_BOT_TOKEN
    channels.push({
      name: 'telegram',
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
  return channels
}
