import { createHmac, randomBytes } from 'node:crypto'

/**
 * Standard Webhooks (https://www.standardwebhooks.com, spec 1.0): the secret is 24+ random bytes shown as
 * `whsec_<base64>`; each delivery carries `webhook-id` (the event id, the same on every retry), `webhook-timestamp`
 * (unix seconds of this attempt) and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256 of
 * "{id}.{timestamp}.{body}">`, one per secret in force (two during a rotation's grace period).
 */
const PREFIX = 'whsec_'

export function generateSecret(): string {
  return `${PREFIX}${randomBytes(32).toString('base64')}`
}

function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64')
}

/** One `v1,<signature>` entry. */
export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')
  return `v1,${mac}`
}

/** The three Standard Webhooks headers for one attempt, signed with every secret given. */
export function signatureHeaders(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => sign(s, id, timestamp, body)).join(' '),
  }
}
