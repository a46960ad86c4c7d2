import { createPrivateKey, createSign, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ConfigError } from '../platform/config.ts'
import { PartnerUnavailableError } from '../platform/partner-http.ts'

/** The fields of a Google service-account key file that the OAuth2 JWT bearer grant needs. */
export interface ServiceAccount {
  projectId: string
  clientEmail: string
  privateKey: KeyObject
  privateKeyId: string | undefined
  tokenUri: string
}

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging'

/** FCM_SERVICE_ACCOUNT: the key's JSON itself, or the path of the file holding it. Errors name the variable. */
export function readServiceAccount(raw: string, tokenUrlOverride?: string): ServiceAccount {
  const fail = (why: string) =>
    new ConfigError(`Invalid configuration from the environment:\n  FCM_SERVICE_ACCOUNT: ${why}`)
  let text = raw.trim()
  if (!text.startsWith('{')) {
    try {
      text = readFileSync(text, 'utf8')
    } catch (error) {
      throw fail(`neither JSON nor a readable file (${(error as Error).message})`)
    }
  }
  let key: Record<string, unknown>
  try {
    key = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw fail('not valid JSON')
  }
  for (const field of ['project_id', 'client_email', 'private_key', 'token_uri']) {
    if (typeof key[field] !== 'string' || !key[field]) throw fail(`the key has no ${field}`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key.private_key as string)
  } catch {
    throw fail('private_key is not a PEM private key')
  }
  return {
    projectId: key.project_id as string,
    clientEmail: key.client_email as string,
    privateKey,
    privateKeyId: typeof key.private_key_id === 'string' ? key.private_key_id : undefined,
    tokenUri: tokenUrlOverride ?? (key.token_uri as string),
  }
}

const b64url = (value: object | Buffer) =>
  (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url')

/** A signed RS256 JWT asserting the service account, for the token endpoint (RFC 7523). */
export function signAssertion(account: ServiceAccount, nowSeconds: number): string {
  const header = { alg: 'RS256', typ: 'JWT', ...(account.privateKeyId ? { kid: account.privateKeyId } : {}) }
  const claims = {
    iss: account.clientEmail,
    scope: SCOPE,
    aud: account.tokenUri,
    iat: nowSeconds,
    exp: nowSeconds + 3600,
  }
  const input = `${b64url(header)}.${b64url(claims)}`
  const signature = createSign('RSA-SHA256').update(input).sign(account.privateKey)
  return `${input}.${b64url(signature)}`
}

export interface AccessTokens {
  /** A valid access token, from the cache until a minute before it expires. */
  get(signal: AbortSignal): Promise<string>
  /** Forget the cached token (FCM answered 401). */
  invalidate(): void
}

/**
 * OAuth2 access tokens for FCM from a service-account key: the JWT bearer grant
 * (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) against the key's token URI, cached until a minute
 * before `expires_in` runs out; concurrent callers share one request.
 */
export function createAccessTokens(account: ServiceAccount, timeoutMs: number): AccessTokens {
  let cached: { token: string; expiresAt: number } | undefined
  let pending: Promise<string> | undefined

  async function fetchToken(signal: AbortSignal): Promise<string> {
    const assertion = signAssertion(account, Math.floor(Date.now() / 1000))
    let response: Response
    try {
      response = await fetch(account.tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      })
    } catch (error) {
      signal.throwIfAborted()
      throw new PartnerUnavailableError(
        `the Google token endpoint is unreachable: ${(error as Error).message}`,
      )
    }
    const body = (await response.json().catch(() => ({}))) as { access_token?: string; expires_in?: number }
    // A refused grant (a revoked key) cannot be fixed by the delivery; it is still retried, since an operator may
    // fix the key meanwhile, and ends in the dead letters like any failure that lasts.
    if (!response.ok || !body.access_token) {
      throw new PartnerUnavailableError(`the Google token endpoint answered ${response.status}`)
    }
    cached = { token: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000 }
    return body.access_token
  }

  return {
    async get(signal) {
      if (cached && cached.expiresAt - 60_000 > Date.now()) return cached.token
      pending ??= fetchToken(signal).finally(() => {
        pending = undefined
      })
      return pending
    },
    invalidate() {
      cached = undefined
    },
  }
}
