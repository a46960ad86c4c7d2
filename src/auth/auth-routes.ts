import type { FastifyPluginAsync } from 'fastify'
import Type from 'typebox'
import { v7 as uuidv7 } from 'uuid'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type HttpServer } from '../platform/http-server.ts'
import { isUniqueViolation } from '../platform/pg-errors.ts'
import { Uuid } from '../platform/schemas.ts'
import { hashPassword, verifyPassword } from './passwords.ts'
import type { TokenService } from './tokens.ts'

const User = Type.Object({ id: Uuid, email: Type.String(), name: Type.String() }, { $id: 'User' })
const Session = Type.Object({ user: Type.Ref('User'), accessToken: Type.String() })
const Email = Type.String({ format: 'email', maxLength: 200 })

export async function createUser(
  db: Db,
  input: { email: string; name: string; password: string },
): Promise<{ id: string; email: string; name: string }> {
  const id = uuidv7()
  const email = input.email.toLowerCase()
  const passwordHash = await hashPassword(input.password)
  try {
    await db.transaction().execute(async (tx) => {
      await tx
        .insertInto('users')
        .values({ id, email, name: input.name, password_hash: passwordHash })
        .execute()
      await tx.insertInto('wallets').values({ user_id: id, balance: 0 }).execute()
    })
  } catch (error) {
    if (isUniqueViolation(error)) throw new AppError('EMAIL_TAKEN')
    throw error
  }
  return { id, email, name: input.name }
}

export function authRoutes(deps: { db: Db; tokens: TokenService }): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify as unknown as HttpServer
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
        const user = await createUser(deps.db, request.body)
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
        const row = await deps.db
          .selectFrom('users')
          .select(['id', 'email', 'name', 'password_hash'])
          .where('email', '=', request.body.email.toLowerCase())
          .executeTakeFirst()
        if (!row || !(await verifyPassword(request.body.password, row.password_hash))) {
          throw new AppError('INVALID_CREDENTIALS')
        }
        return {
          user: { id: row.id, email: row.email, name: row.name },
          accessToken: deps.tokens.signAccess(row.id),
        }
      },
    )
  }
}
