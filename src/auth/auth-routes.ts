import Type from 'typebox'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { Uuid } from '../platform/schemas.ts'
import { createAccount } from './create-account.ts'
import { signIn } from './sign-in.ts'
import type { TokenService } from './tokens.ts'

const User = Type.Object({ id: Uuid, email: Type.String(), name: Type.String() }, { $id: 'User' })
const Session = Type.Object({ user: Type.Ref('User'), accessToken: Type.String() })
const Email = Type.String({ format: 'email', maxLength: 200 })

export const authRoutes: Routes<{ db: Db; tokens: TokenService }> = async (app, deps) => {
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
        response: { 201: Session, ...errorResponses('EMAIL_TAKEN') },
      },
    },
    async (request, reply) => {
      const user = await createAccount(deps.db, request.body)
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
        response: { 200: Session, ...errorResponses('INVALID_CREDENTIALS') },
      },
    },
    async (request) => {
      const user = await signIn(deps.db, request.body)
      return { user, accessToken: deps.tokens.signAccess(user.id) }
    },
  )
}
