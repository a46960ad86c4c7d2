import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { TokenService } from '../auth/tokens.ts'
import { AppError } from '../platform/errors.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import type { Logger } from '../platform/logger.ts'
import { DateTime, Uuid } from '../platform/schemas.ts'
import { readEntry } from '../queue/queue-sql.ts'
import type { PlaceDeps } from '../queue/read-place.ts'
import type { StreamRegistry } from './event-stream.ts'
import { followPlace, type LineFeed } from './follow-place.ts'
import { type SnapshotSeat, seatSnapshot } from './live-sql.ts'
import type { SeatEvent, SeatFeed } from './seat-feed.ts'

export type LiveDeps = PlaceDeps & {
  tokens: TokenService
  guard: Guard
  streams: StreamRegistry
  seats: SeatFeed
  lines: LineFeed
  logger: Logger
}

const Params = Type.Object({ scheduleId: Uuid })
const StreamQuery = Type.Object({
  token: Type.Optional(
    Type.String({
      maxLength: 2000,
      description:
        'A stream token from POST /streams/tokens (EventSource cannot send headers); an Authorization header also works',
    }),
  ),
})
const eventStream = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: Type.String() } },
})

/** The caller of a stream: the stream token in the query, else a bearer access token. */
function streamUser(tokens: TokenService, request: FastifyRequest): string {
  const { token } = request.query as { token?: string }
  if (token) return tokens.verifyStream(token)
  const header = request.headers.authorization
  if (header?.startsWith('Bearer ')) return tokens.verifyAccess(header.slice(7).trim())
  throw new AppError('UNAUTHENTICATED', 'Send a stream token as ?token= (or an Authorization header).')
}

/** Push streams (Server-Sent Events) of the live seat map and a fan's place in the waiting room. */
export const liveRoutes: Routes<LiveDeps> = async (app, deps) => {
  app.post(
    '/streams/tokens',
    {
      schema: {
        tags: ['live'],
        security: [{ bearer: [] }],
        summary: 'A short-lived token (2 minutes) to open push streams from a browser',
        description:
          'EventSource cannot send an Authorization header, so streams take this token as ?token=. It only opens streams; ask for a new one to reconnect after it expires.',
        response: {
          201: Type.Object({ token: Type.String(), expiresAt: DateTime }),
          ...errorResponses('UNAUTHENTICATED'),
        },
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      const { token, expiresAt } = deps.tokens.signStream(userId)
      reply.status(201)
      return { token, expiresAt: expiresAt.toISOString() }
    },
  )

  app.get(
    '/schedules/:scheduleId/seats/stream',
    {
      schema: {
        tags: ['live'],
        summary: 'Live seat map (Server-Sent Events): a snapshot, then every change',
        description: [
          'Events: `snapshot` `{seats: Seat[]}` first, then `seat` `{id, status, heldUntil?}` for each change made on',
          'any instance (within about 100 ms of its commit). A held seat turns available at its `heldUntil` without',
          'another event. Each instance serves at most STREAMS_MAX_PER_INSTANCE streams; past it: 503',
          'STREAMS_AT_CAPACITY.',
        ].join(' '),
        params: Params,
        querystring: StreamQuery,
        response: {
          200: eventStream('text/event-stream of `snapshot` then `seat` events'),
          ...errorResponses('UNAUTHENTICATED', 'SCHEDULE_NOT_FOUND', 'STREAMS_AT_CAPACITY'),
        },
      },
    },
    async (request, reply) => {
      streamUser(deps.tokens, request)
      deps.streams.reserve()
      const { scheduleId } = request.params
      // Changes are collected from before the snapshot is read, so none falls between the two; those the snapshot
      // already shows (or shows newer) are dropped.
      const early: { event: SeatEvent; rev: number | undefined }[] = []
      let forward: ((event: SeatEvent) => void) | undefined
      const stop = deps.seats.subscribe(scheduleId, (event, rev) =>
        forward ? forward(event) : early.push({ event, rev }),
      )
      try {
        const seats = await seatSnapshot(deps.db, scheduleId)
        if (seats.length === 0) throw new AppError('SCHEDULE_NOT_FOUND')
        deps.seats.prime(scheduleId, seats)
        const stream = deps.streams.open(reply, 'seats')
        stream.onClose(stop)
        const byId = new Map(seats.map((s) => [s.id, s]))
        stream.send('snapshot', { seats: seats.map(({ rev: _rev, ...seat }) => seat) })
        for (const { event, rev } of early) {
          const seen = byId.get(event.id)
          if (seen && ((rev !== undefined && rev <= seen.rev) || sameState(seen, event))) continue
          stream.send('seat', event)
        }
        forward = (event) => stream.send('seat', event)
      } catch (error) {
        stop()
        throw error
      }
    },
  )

  app.get(
    '/schedules/:scheduleId/queue/stream',
    {
      schema: {
        tags: ['live'],
        summary: 'Your live place in the waiting room (Server-Sent Events)',
        description: [
          'Events: `place` `{status, preQueue, position, ahead, estimatedWaitSeconds}` at once and whenever the line',
          'moves; `admitted` `{status, token, admittedUntil, ...}` when you are let in (send the token as',
          'X-Queue-Token). Enter the queue first (POST /schedules/{id}/queue). Past STREAMS_MAX_PER_INSTANCE open',
          'streams: 503 STREAMS_AT_CAPACITY.',
        ].join(' '),
        params: Params,
        querystring: StreamQuery,
        response: {
          200: eventStream('text/event-stream of `place` and `admitted` events'),
          ...errorResponses('UNAUTHENTICATED', 'QUEUE_ENTRY_NOT_FOUND', 'STREAMS_AT_CAPACITY'),
        },
      },
    },
    async (request, reply) => {
      const userId = streamUser(deps.tokens, request)
      deps.streams.reserve()
      const { scheduleId } = request.params
      const entry = await readEntry(deps.db, scheduleId, userId)
      const stream = deps.streams.open(reply, 'queue')
      await followPlace(deps, stream, scheduleId, userId, entry)
    },
  )
}

function sameState(seat: SnapshotSeat, event: SeatEvent): boolean {
  return seat.status === event.status && seat.heldUntil === event.heldUntil
}
