import { NonRetryableError } from '../events/index.ts'
import type { NotificationMessage } from './messages.ts'

export type ChannelName = 'webhook' | 'slack' | 'discord' | 'telegram'

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

export interface ChannelSettings {
  webhookUrl?: string | undefined
  slackWebhookUrl?: string | undefined
  discordWebhookUrl?: string | undefined
  telegramBotToken?: string | undefined
  telegramApiUrl: string
  timeoutMs: number
}

async function post(
  url: string,
  body: unknown,
  idempotencyKey: string,
  signal: AbortSignal,
  timeoutMs: number,
) {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    })
  } catch (error) {
    signal.throwIfAborted()
    throw new Error(`channel unreachable: ${(error as Error).message}`)
  }
  await response.arrayBuffer().catch(() => undefined)
  if (response.ok) return
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    throw new Error(`channel answered ${response.status}`)
  }
  throw new NonRetryableError(`channel refused the message: ${response.status}`)
}

/** The channels configured for this deployment (each only when its URL or token is set). */
export function createChannels(settings: ChannelSettings): NotificationChannel[] {
  const channels: NotificationChannel[] = []
  const t = settings.timeoutMs
  channels.push({
    name: 'webhook',
    defaultTarget: settings.webhookUrl,
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
        t,
      ),
  })
  channels.push({
    name: 'slack',
    defaultTarget: settings.slackWebhookUrl,
    send: (m, url, key, signal) =>
      post(
        url,
        {
          text: `*${m.title}*\n${m.body}`,
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${m.title}*\n${m.body}` } }],
        },
        key,
        signal,
        t,
      ),
  })
  channels.push({
    name: 'discord',
    defaultTarget: settings.discordWebhookUrl,
    send: (m, url, key, signal) => post(url, { content: `**${m.title}**\n${m.body}` }, key, signal, t),
  })
  if (settings.telegramBotToken) {
    const token = settings.telegramBotToken
    channels.push({
      name: 'telegram',
      defaultTarget: undefined,
      send: (m, chatId, key, signal) =>
        post(
          `${settings.telegramApiUrl}/bot${token}/sendMessage`,
          { chat_id: chatId, text: `${m.title}\n${m.body}` },
          key,
          signal,
          t,
        ),
    })
  }
  return channels
}
