import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import type { Logger } from '../platform/logger.ts'
import { Uuid } from '../platform/schemas.ts'
import type { AttemptLimiter } from './attempt-limiter.ts'
import { createAccount } from './create-account.ts'
import type { PasswordHasher } from './passwords.ts'
import { signIn } from './sign-in.ts'
import type { TokenService } from './tokens.ts'

const User = Type.Object({ id: Uuid, email: Type.String(), name: Type.String() }, { $id: 'User' })
const Session = Type.Object({ user: Type.Ref('User'), accessToken: Type.String() })
const Email = Type.String({ format: 'email', maxLength: 200 })

export const authRoutes: Routes<{
  db: Db
  tokens: TokenService
  passwords: PasswordHasher
  logger: Logger
  limits: { address: AttemptLimiter; account: AttemptLimiter }
}> = async (app, deps) => {
  /** Counted before any hashing: per client address, then per e-mail address (known or not, the same). */
  function countAttempt(ip: string, email: string) {
    deps.limits.address.take(ip)
    deps.limits.account.take(email.toLowerCase())
  }

  app.addSchema(User)

  app.post(
    '/auth/sign-up',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account and get an access token',
        body: Type.Object(
          {
            email: Email,
            name: Type.String({ minLength: 1, maxLength: 100 }),
            password: Type.String({ minLength: 8, maxLength: 200 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Session, ...errorResponses('EMAIL_TAKEN', 'RATE_LIMITED', 'PASSWORD_HASHING_BUSY') },
      },
    },
    async (request, reply) => {
      countAttempt(request.ip, request.body.email)
      const user = await createAccount(deps.db, deps.passwords, request.body)
      reply.status(201)
      return { user, accessToken: deps.tokens.signAccess(user.id) }
    },
  )

  app.post(
    '/auth/sign-in',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange email and password for an access token',
        body: Type.Object(
          { email: Email, password: Type.String({ maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Session,
          ...errorResponses('INVALID_CREDENTIALS', 'RATE_LIMITED', 'PASSWORD_HASHING_BUSY'),
        },
      },
    },
    async (request) => {
      countAttempt(request.ip, request.body.email)
      const user = await signIn(deps.db, deps.passwords, request.body, deps.logger)
      return { user, accessToken: deps.tokens.signAccess(user.id) }
    },
  )
}
