import { NonRetryableError } from '../platform/errors.ts'
import { PartnerUnavailableError } from '../platform/partner-http.ts'
import { type NotificationChannel, TargetGoneError } from './channels.ts'
import { createAccessTokens, readServiceAccount } from './fcm-access-token.ts'

/**
 * Push notifications through Firebase Cloud Messaging HTTP v1:
 * `POST {FCM_API_URL}/v1/projects/{project}/messages:send` with `Authorization: Bearer <OAuth2 token>` and
 * `{ message: { token, notification: { title, body }, data } }`, one call per device token. UNREGISTERED (404) means
 * the app was uninstalled or the token rotated: the token is removed. 401 drops the cached access token and retries.
 */
export type FcmSettings = {
  FCM_SERVICE_ACCOUNT?: string | undefined
  FCM_API_URL: string
  FCM_TOKEN_URL?: string | undefined
  NOTIFY_TIMEOUT_MS: number
}

export function createFcmChannel(settings: FcmSettings): NotificationChannel | undefined {
  if (!settings.FCM_SERVICE_ACCOUNT) return undefined
  const account = readServiceAccount(settings.FCM_SERVICE_ACCOUNT, settings.FCM_TOKEN_URL)
  const tokens = createAccessTokens(account, settings.NOTIFY_TIMEOUT_MS)
  const url = `${settings.FCM_API_URL}/v1/projects/${encodeURIComponent(account.projectId)}/messages:send`
  return {
    name: 'fcm',
    audience: 'device',
    enabledByDefault: true,
    defaultTarget: undefined,
    async send(m, deviceToken, key, signal) {
      const accessToken = await tokens.get(signal)
      let response: Response
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            message: {
              token: deviceToken,
              notification: { title: m.title, body: m.body },
              // FCM has no idempotency key: the app drops a push whose notificationId it already showed.
              data: { notificationId: m.notificationId, kind: m.kind, eventId: key },
              android: { priority: 'high' },
            },
          }),
          signal: AbortSignal.any([signal, AbortSignal.timeout(settings.NOTIFY_TIMEOUT_MS)]),
        })
      } catch (error) {
        signal.throwIfAborted()
        throw new PartnerUnavailableError(`FCM unreachable: ${(error as Error).message}`)
      }
      if (response.ok) return
      const text = await response.text().catch(() => '')
      const fcmError = errorCodeOf(text)
      if (response.status === 404 || fcmError === 'UNREGISTERED') {
        throw new TargetGoneError(
          `FCM: the device token is no longer registered (${fcmError ?? response.status})`,
        )
      }
      if (response.status === 401) {
        tokens.invalidate()
        throw new PartnerUnavailableError('FCM answered 401: the access token is refreshed for the retry')
      }
      if (response.status === 429 || response.status >= 500) {
        throw new PartnerUnavailableError(`FCM answered ${response.status} ${fcmError ?? ''}`.trim())
      }
      throw new NonRetryableError(
        `FCM refused the message: ${response.status} ${fcmError ?? text.slice(0, 200)}`,
      )
    },
  }
}

/** `error.details[].errorCode` of an FCM v1 error body (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, …). */
function errorCodeOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { status?: string; details?: { errorCode?: string }[] } }
    return body.error?.details?.find((d) => d.errorCode)?.errorCode ?? body.error?.status
  } catch {
    return undefined
  }
}
