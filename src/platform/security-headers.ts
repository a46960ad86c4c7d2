/**
 * Sent on every response (helmet's choices for an API, precomputed: @fastify/helmet builds its middleware again on
 * every request, about 20 µs each, a tenth of a hold attempt's CPU). The API answers JSON only, so its policy
 * allows nothing to load and nobody to frame it; HTML pages (the fan app, the console) set their own,
 * which lets them load their own scripts and styles and call their own origin.
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
