import { createHmac } from 'node:crypto'
import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import { AppError } from '../platform/errors.ts'

export interface QueueClaims {
  readonly userId: string
  readonly scheduleId: string
  readonly expiresAt: Date
}

/** Signs and checks access and queue tokens with keys derived from one secret; no database involved. */
export interface TokenService {
  signAccess(userId: string): string
  /** Returns the user id, or throws UNAUTHENTICATED. */
  verifyAccess(token: string): string
  signQueue(claims: QueueClaims): string
  /** Returns the claims, or throws QUEUE_TOKEN_INVALID / QUEUE_TOKEN_EXPIRED. */
  verifyQueue(token: string): QueueClaims
}

function deriveKey(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(`ticketing:${purpose}`).digest('base64')
}

export function createTokenService(secret: string, accessTtlSeconds: number): TokenService {
  const accessKey = deriveKey(secret, 'access-token')
  const queueKey = deriveKey(secret, 'queue-token')
  const signAccess = createSigner({ key: accessKey, algorithm: 'HS256', expiresIn: accessTtlSeconds * 1000 })
  const verifyAccess = createVerifier({ key: accessKey, algorithms: ['HS256'] })
  const signQueue = createSigner({ key: queueKey, algorithm: 'HS256' })
  const verifyQueue = createVerifier({ key: queueKey, algorithms: ['HS256'] })

  return {
    signAccess: (userId) => signAccess({ sub: userId, typ: 'access' }),
    verifyAccess(token) {
      try {
        const claims = verifyAccess(token) as { sub?: unknown; typ?: unknown }
        if (claims.typ !== 'access' || typeof claims.sub !== 'string') throw new AppError('UNAUTHENTICATED')
        return claims.sub
      } catch (error) {
        if (error instanceof AppError) throw error
        throw new AppError('UNAUTHENTICATED', tokenMessage(error, 'access token'))
      }
    },
    signQueue: ({ userId, scheduleId, expiresAt }) =>
      signQueue({ sub: userId, sch: scheduleId, typ: 'queue', exp: Math.floor(expiresAt.getTime() / 1000) }),
    verifyQueue(token) {
      let claims: { sub?: unknown; sch?: unknown; typ?: unknown; exp?: unknown }
      try {
        claims = verifyQueue(token)
      } catch (error) {
        if (error instanceof TokenError && error.code === TokenError.codes.expired) {
          throw new AppError('QUEUE_TOKEN_EXPIRED')
        }
        throw new AppError('QUEUE_TOKEN_INVALID')
      }
      if (
        claims.typ !== 'queue' ||
        typeof claims.sub !== 'string' ||
        typeof claims.sch !== 'string' ||
        typeof claims.exp !== 'number'
      ) {
        throw new AppError('QUEUE_TOKEN_INVALID')
      }
      return { userId: claims.sub, scheduleId: claims.sch, expiresAt: new Date(claims.exp * 1000) }
    },
  }
}

function tokenMessage(error: unknown, what: string): string {
  if (error instanceof TokenError && error.code === TokenError.codes.expired)
    return `The ${what} has expired.`
  return `The ${what} is missing, forged or malformed.`
}
