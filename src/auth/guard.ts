import { timingSafeEqual } from 'node:crypto'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import { AppError } from '../platform/errors.ts'
import type { QueueClaims, TokenService } from './tokens.ts'

/** Request checks shared by every slice; all of them run without a database round trip. */
export interface Guard {
  /** The caller's user id from `Authorization: Bearer`, or UNAUTHENTICATED. */
  user(request: FastifyRequest): string
  /** The caller, who must be `userId` (FORBIDDEN otherwise). */
  self(request: FastifyRequest, userId: string): string
  /** Passes only with the organizer key in `X-Admin-Key`. */
  admin(request: FastifyRequest): void
  /** The same check as an onRequest hook, for a scope of organizer routes. */
  readonly adminHook: onRequestHookHandler
  /**
   * The caller's admitted queue token from `X-Queue-Token`; for `scheduleId` when given. A token whose admission was
   * spent or given back is refused, unless `acceptRevoked` (a payment, whose replay must still answer its receipt:
   * the database decides there).
   */
  admitted(
    request: FastifyRequest,
    userId: string,
    scheduleId?: string,
    options?: { acceptRevoked?: boolean },
  ): QueueClaims
}

/**
 * `isRevoked`: whether an admission was spent or given back (this instance's memory of revocations, fed by every
 * instance); a revoked queue token is refused here, and the database refuses it again inside holds and payments.
 */
export function createGuard(
  tokens: TokenService,
  adminKey: string,
  isRevoked: (claims: QueueClaims) => boolean = () => false,
): Guard {
  const adminKeyBytes = Buffer.from(adminKey)
  const guard: Guard = {
    user(request) {
      const header = request.headers.authorization
      if (!header?.startsWith('Bearer ')) throw new AppError('UNAUTHENTICATED')
      return tokens.verifyAccess(header.slice(7).trim())
    },
    self(request, userId) {
      const caller = this.user(request)
      if (caller !== userId) throw new AppError('FORBIDDEN')
      return caller
    },
    admin(request) {
      const given = request.headers['x-admin-key']
      const bytes = Buffer.from(typeof given === 'string' ? given : '')
      if (bytes.length !== adminKeyBytes.length || !timingSafeEqual(bytes, adminKeyBytes)) {
        throw new AppError('ADMIN_KEY_INVALID')
      }
    },
    admitted(request, userId, scheduleId, options) {
      const given = request.headers['x-queue-token']
      if (typeof given !== 'string' || given.length === 0) throw new AppError('QUEUE_TOKEN_INVALID')
      const claims = tokens.verifyQueue(given)
      if (!options?.acceptRevoked && isRevoked(claims)) throw new AppError('QUEUE_TOKEN_REVOKED')
      if (claims.userId !== userId)
        throw new AppError('QUEUE_NOT_ADMITTED', 'This queue token was issued to someone else.')
      if (scheduleId !== undefined && claims.scheduleId !== scheduleId) {
        throw new AppError('QUEUE_NOT_ADMITTED', 'This queue token is for another schedule.')
      }
      return claims
    },
    adminHook: async (request) => guard.admin(request),
  }
  return guard
}
