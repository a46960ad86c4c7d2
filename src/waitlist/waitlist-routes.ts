import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { TokenService } from '../auth/tokens.ts'
import type { DatabaseHandle, Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { joinWaitlist } from './join-waitlist.ts'
import { leaveWaitlist } from './leave-waitlist.ts'
import { readAdmission, readWaitlistEntry } from './waitlist-sql.ts'

const Offer = Type.Object(
  {
    offerId: Uuid,
    seatId: Uuid,
    seatLabel: Type.String(),
    price: Type.Integer(),
    expiresAt: { ...DateTime, description: 'the seat is yours alone until then' },
  },
  { $id: 'WaitlistOffer' },
)
const Entry = Type.Object(
  {
    userId: Uuid,
    status: Type.Union(
      [
        Type.Literal('waiting'),
        Type.Literal('offered'),
        Type.Literal('accepted'),
        Type.Literal('lapsed'),
        Type.Literal('left'),
      ],
      {
        description:
          'waiting in line; offered a seat; accepted (held the offered seat); lapsed (let an offer pass); left',
      },
    ),
    position: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: '1 is offered next' }),
    joinedAt: DateTime,
    offer: Type.Union([Type.Ref('WaitlistOffer'), Type.Null()]),
  },
  { $id: 'WaitlistEntry' },
)
/** Shared by the fan's and the organizer's routes, so added at the root. */
export const waitlistSchemas = [Offer, Entry]

export type WaitlistDeps = {
  db: Db
  database: DatabaseHandle
  guard: Guard
  tokens: TokenService
  offerSeconds: number
}

const Params = Type.Object({ scheduleId: Uuid })

/** A fan's side of a waiting list: join, read their place and offer, leave. */
export const waitlistRoutes: Routes<WaitlistDeps> = async (app, deps) => {
  const schema = { tags: ['waitlist'], security: [{ bearer: [] }], params: Params }

  /** The fan's entry, and with an open offer the queue token that lets them hold the seat (the offer admits them). */
  async function myStatus(scheduleId: string, userId: string) {
    const entry = await readWaitlistEntry(deps.db, scheduleId, userId)
    if (!entry.offer) return entry
    const admission = await readAdmission(deps.db, scheduleId, userId)
    if (!admission?.admitted_until) return entry
    return {
      ...entry,
      queueToken: deps.tokens.signQueue({
        userId,
        scheduleId,
        expiresAt: admission.admitted_until,
        seq: admission.seq ?? undefined,
      }),
    }
  }

  const Status = Type.Object({
    ...Entry.properties,
    offer: Type.Union([Type.Ref('WaitlistOffer'), Type.Null()]),
    queueToken: Type.Optional(
      Type.String({
        description: 'with an open offer: send as X-Queue-Token to hold and pay the offered seat',
      }),
    ),
  })

  app.post(
    '/schedules/:scheduleId/waitlist',
    {
      schema: {
        ...schema,
        summary:
          'Join the waiting list of a sold-out schedule (201; 200 when already on it, keeping the place)',
        response: {
          200: Status,
          201: Status,
          ...errorResponses('UNAUTHENTICATED', 'SCHEDULE_NOT_FOUND', 'SCHEDULE_NOT_SOLD_OUT'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      const { scheduleId } = request.params
      const { joined } = await joinWaitlist(deps.database, {
        scheduleId,
        userId,
        offerSeconds: deps.offerSeconds,
      })
      reply.status(joined ? 201 : 200)
      return myStatus(scheduleId, userId)
    },
  )

  app.get(
    '/schedules/:scheduleId/waitlist/me',
    {
      schema: {
        ...schema,
        summary:
          'Your place on the waiting list, and the seat offered to you with its deadline and queue token',
        response: { 200: Status, ...errorResponses('UNAUTHENTICATED', 'WAITLIST_ENTRY_NOT_FOUND') },
      },
    },
    async (request) => myStatus(request.params.scheduleId, deps.guard.user(request)),
  )

  app.delete(
    '/schedules/:scheduleId/waitlist/me',
    {
      schema: {
        ...schema,
        summary: 'Leave the waiting list; a seat offered to you goes to the next fan at once',
        response: { 204: Type.Null(), ...errorResponses('UNAUTHENTICATED', 'WAITLIST_ENTRY_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      await leaveWaitlist(deps.database, {
        scheduleId: request.params.scheduleId,
        userId,
        offerSeconds: deps.offerSeconds,
      })
      reply.status(204)
    },
  )
}
