import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { listPushTokens, readPhone, registerPushToken, removePhone, removePushToken } from './contacts-sql.ts'
import { confirmPhoneCode, type PhoneCodeRules, requestPhoneCode } from './verify-phone.ts'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const Platform = Type.Union([Type.Literal('android'), Type.Literal('ios'), Type.Literal('web')])
const PushToken = Type.Object({
  id: Uuid,
  token: Type.String(),
  platform: Platform,
  createdAt: DateTime,
  registeredAt: DateTime,
})

/**
 * How a fan is reached on the Korean channels: their phone number, verified by a code sent by SMS (AlimTalk and SMS
 * go to it), and the push tokens of their devices (FCM).
 */
export const contactRoutes: Routes<{
  db: Db
  guard: Guard
  rules: PhoneCodeRules
  smsConfigured: boolean
}> = async (app, deps) => {
  const secured = { tags: ['notifications'], security: [{ bearer: [] }] }
  const params = Type.Object({ userId: Uuid })

  app.get(
    '/users/:userId/phone',
    {
      schema: {
        ...secured,
        summary: 'Your verified phone number, and the verification in progress',
        params,
        response: {
          200: Type.Object({
            phoneNumber: Nullable(Type.String({ description: 'E.164, e.g. +821012345678' })),
            verifiedAt: Nullable(DateTime),
            pending: Nullable(
              Type.Object({
                phoneNumber: Type.String(),
                expiresAt: DateTime,
                sendStatus: Type.Union([
                  Type.Literal('queued'),
                  Type.Literal('sent'),
                  Type.Literal('failed'),
                ]),
                sendError: Nullable(Type.String()),
                attemptsLeft: Type.Integer(),
              }),
            ),
          }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      const { phone, pending } = await readPhone(deps.db, userId)
      return {
        phoneNumber: phone?.phone_number ?? null,
        verifiedAt: phone?.verified_at.toISOString() ?? null,
        pending: pending
          ? {
              phoneNumber: pending.phone_number,
              expiresAt: pending.expires_at.toISOString(),
              sendStatus: pending.send_status,
              sendError: pending.send_error,
              attemptsLeft: Math.max(0, deps.rules.maxAttempts - pending.attempts),
            }
          : null,
      }
    },
  )

  app.post(
    '/users/:userId/phone/verification',
    {
      schema: {
        ...secured,
        summary: 'Send a 6-digit code by SMS to verify a Korean mobile number',
        params,
        body: Type.Object(
          { phoneNumber: Type.String({ minLength: 9, maxLength: 20, examples: ['010-1234-5678'] }) },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ verificationId: Uuid, phoneNumber: Type.String(), expiresAt: DateTime }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED', 'SMS_NOT_CONFIGURED'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.self(request, request.params.userId)
      if (!deps.smsConfigured) throw new AppError('SMS_NOT_CONFIGURED')
      try {
        const started = await requestPhoneCode(deps.db, userId, request.body.phoneNumber, deps.rules)
        reply.status(202)
        return started
      } catch (error) {
        if (error instanceof AppError && error.code === 'RATE_LIMITED') {
          reply.header('retry-after', String(error.details?.retryAfterSeconds ?? 3600))
        }
        throw error
      }
    },
  )

  app.post(
    '/users/:userId/phone/verification/confirm',
    {
      schema: {
        ...secured,
        summary: 'Confirm the code; the number becomes your verified phone',
        params,
        body: Type.Object({ code: Type.String({ pattern: '^[0-9]{6}$' }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ phoneNumber: Type.String(), verifiedAt: DateTime }),
          ...errorResponses(
            'UNAUTHENTICATED',
            'FORBIDDEN',
            'PHONE_VERIFICATION_NOT_FOUND',
            'PHONE_CODE_INVALID',
            'PHONE_CODE_EXPIRED',
            'PHONE_CODE_ATTEMPTS_EXCEEDED',
          ),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      return confirmPhoneCode(deps.db, userId, request.body.code, deps.rules)
    },
  )

  app.delete(
    '/users/:userId/phone',
    {
      schema: {
        ...secured,
        summary: 'Forget your phone number (AlimTalk and SMS stop)',
        params,
        response: { 204: Type.Null(), ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN') },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.self(request, request.params.userId)
      await removePhone(deps.db, userId)
      reply.status(204)
      return null
    },
  )

  const toView = (r: {
    id: string
    token: string
    platform: 'android' | 'ios' | 'web'
    created_at: Date
    registered_at: Date
  }) => ({
    id: r.id,
    token: r.token,
    platform: r.platform,
    createdAt: r.created_at.toISOString(),
    registeredAt: r.registered_at.toISOString(),
  })

  app.post(
    '/users/:userId/push-tokens',
    {
      schema: {
        ...secured,
        summary: "Register this device's FCM registration token (again after the app gets a new one)",
        params,
        body: Type.Object(
          {
            token: Type.String({ minLength: 16, maxLength: 4096, pattern: '^[A-Za-z0-9_:.-]+$' }),
            platform: Platform,
          },
          { additionalProperties: false },
        ),
        response: { 201: PushToken, ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN') },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.self(request, request.params.userId)
      const row = await registerPushToken(deps.db, userId, request.body.token, request.body.platform)
      reply.status(201)
      return toView({ ...row, token: request.body.token })
    },
  )

  app.get(
    '/users/:userId/push-tokens',
    {
      schema: {
        ...secured,
        summary: 'Your registered devices, most recent first',
        params,
        response: {
          200: Type.Object({ pushTokens: Type.Array(PushToken) }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      return { pushTokens: (await listPushTokens(deps.db, userId)).map(toView) }
    },
  )

  app.delete(
    '/users/:userId/push-tokens/:tokenId',
    {
      schema: {
        ...secured,
        summary: 'Remove a device (sign-out on that device)',
        params: Type.Object({ userId: Uuid, tokenId: Uuid }),
        response: {
          204: Type.Null(),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN', 'PUSH_TOKEN_NOT_FOUND'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.self(request, request.params.userId)
      await removePushToken(deps.db, userId, request.params.tokenId)
      reply.status(204)
      return null
    },
  )
}
