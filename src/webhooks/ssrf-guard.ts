import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { lookup } from 'node:dns/promises'
import { isIP, type LookupFunction } from 'node:net'
import ipaddr from 'ipaddr.js'
import { AppError } from '../platform/errors.ts'

/**
 * Server-side request forgery guard for organizer webhook URLs. An address is public when ipaddr.js files it under
 * `unicast`: loopback, RFC 1918 private, CGNAT (100.64/10), link-local (169.254/16 and fe80::/10, where cloud metadata
 * services live), unique-local IPv6 (fc00::/7), multicast, documentation, 6to4/Teredo/NAT64 (which can embed a private
 * IPv4) and every other special range are refused. IPv4-mapped IPv6 is judged as the IPv4 it maps.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  return ipaddr.process(address).range() === 'unicast'
}

export interface UrlPolicy {
  /** WEBHOOKS_ALLOW_PRIVATE: http and non-public addresses allowed (tests, closed networks). */
  allowPrivate: boolean
}

export class WebhookUrlRefused extends Error {
  override name = 'WebhookUrlRefused'
  readonly retryable = false
}

/** Why `url` may not be called, judged on the URL alone (scheme, credentials, a literal address); undefined when fine. */
export function urlProblem(url: URL, policy: UrlPolicy): string | undefined {
  if (url.protocol !== 'https:' && !(policy.allowPrivate && url.protocol === 'http:')) {
    return 'only https URLs are allowed'
  }
  if (url.username || url.password) return 'credentials in the URL are not allowed'
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) && !policy.allowPrivate && !isPublicAddress(host)) return `${host} is not a public address`
  return undefined
}

/**
 * Registration check: the URL's form, then every address its host resolves to must be public (unless the policy
 * allows private ones). Throws WEBHOOK_URL_NOT_ALLOWED or WEBHOOK_HOST_UNRESOLVABLE.
 */
export async function assertWebhookUrl(raw: string, policy: UrlPolicy): Promise<URL> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new AppError('VALIDATION_FAILED', 'url: not a valid URL', { field: 'url' })
  }
  const problem = urlProblem(url, policy)
  if (problem)
    throw new AppError('WEBHOOK_URL_NOT_ALLOWED', `Webhook URL refused: ${problem}.`, { field: 'url' })
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) || policy.allowPrivate) return url
  let addresses: LookupAddress[]
  try {
    addresses = await lookup(host, { all: true, verbatim: true })
  } catch (error) {
    throw new AppError(
      'WEBHOOK_HOST_UNRESOLVABLE',
      `${host} does not resolve (${(error as Error).message}).`,
      {
        field: 'url',
      },
    )
  }
  const refused = addresses.find((a) => !isPublicAddress(a.address))
  if (refused) {
    throw new AppError(
      'WEBHOOK_URL_NOT_ALLOWED',
      `Webhook URL refused: ${host} resolves to ${refused.address}.`,
      {
        field: 'url',
      },
    )
  }
  return url
}

/**
 * A `lookup` for http.request that resolves the host and refuses the connection unless every address is public, so
 * the check holds at send time too (DNS can change after registration) and the socket connects to exactly the
 * addresses that were checked (no second lookup an attacker's DNS could answer differently).
 */
export function guardedLookup(policy: UrlPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, '', 0)
      const list = addresses as LookupAddress[]
      const refused = policy.allowPrivate ? undefined : list.find((a) => !isPublicAddress(a.address))
      if (refused) {
        return callback(
          new WebhookUrlRefused(`${hostname} resolves to ${refused.address}, not a public address`),
          '',
          0,
        )
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list)
      const first = list[0]
      if (!first) return callback(new WebhookUrlRefused(`${hostname} has no address`), '', 0)
      callback(null, first.address, first.family)
    })
  }
}
