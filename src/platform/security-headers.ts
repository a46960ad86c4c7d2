import { createHash } from 'node:crypto'

/**
 * Sent on every response (helmet's choices for an API, precomputed: @fastify/helmet builds its middleware again on
 * every request, about 20 µs each, a tenth of a hold attempt's CPU). The API answers JSON only, so its policy
 * allows nothing to load and nobody to frame it; HTML pages set their own policy with `htmlPagePolicy`.
 */
export const securityHeaders: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-dns-prefetch-control': 'off',
  'x-permitted-cross-domain-policies': 'none',
})

function hashesOf(html: string, tag: 'script' | 'style'): string[] {
  const pattern = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g')
  return [...html.matchAll(pattern)].map(
    (m) =>
      `'sha256-${createHash('sha256')
        .update(m[1] ?? '')
        .digest('base64')}'`,
  )
}

/**
 * A policy for a page whose scripts and styles are inline: each is allowed by its hash, so an injected one is not;
 * it may call its own origin, and nothing may frame it.
 */
export function htmlPagePolicy(html: string): string {
  const scripts = hashesOf(html, 'script')
  const styles = hashesOf(html, 'style')
  return [
    "default-src 'none'",
    `script-src ${scripts.length > 0 ? scripts.join(' ') : "'none'"}`,
    "script-src-attr 'none'",
    `style-src ${styles.length > 0 ? styles.join(' ') : "'none'"}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}
