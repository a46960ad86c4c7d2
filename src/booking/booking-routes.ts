import Type from 'typebox'
import type { Guard } from '../auth/guard.ts'
import type { DatabaseHandle, Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { answerCatalogError, errorResponses, type Routes } from '../platform/http-server.ts'
import { DateTime, Pagination, QueueTokenHeaders, Uuid } from '../platform/schemas.ts'
import { cancelHold } from './cancel-hold.ts'
import { holdSeat } from './hold-seat.ts'
import { findReservation, listReservations } from './reservations-sql.ts'
import type { SeatBoard } from './seat-board.ts'

export const ReservationSchema = Type.Object(
  {
    id: Uuid,
    scheduleId: Uuid,
    seatId: Uuid,
    seatLabel: Type.String(),
    userId: Uuid,
    price: Type.Integer(),
    status: Type.Union(['held', 'confirmed', 'expired', 'cancelled', 'refunded'].map((s) => Type.Literal(s))),
    expiresAt: DateTime,
    createdAt: DateTime,
    confirmedAt: Type.Union([DateTime, Type.Null()]),
  },
  { $id: 'Reservation' },
)

export const bookingRoutes: Routes<{
  db: Db
  database: DatabaseHandle
  guard: Guard
  board: SeatBoard
  holdTtlSeconds: number
  maxSeatsPerAdmission: number
}> = async (app, deps) => {
  app.addSchema(ReservationSchema)
  const secured = { tags: ['booking'], security: [{ bearer: [] }] }

  app.post(
    '/schedules/:scheduleId/seats/:seatId/hold',
    {
      schema: {
        tags: ['booking'],
        security: [{ bearer: [], queueToken: [] }],
        summary: 'Hold a seat for a few minutes (admitted fans only); losers of a race get 409 at once',
        description:
          'A seat this instance knows is taken answers 409 SEAT_ALREADY_HELD before the tokens are checked (the seat ' +
          'map is public anyway), as does one it is asking the database about once that answer makes it taken; on ' +
          'any other seat the access and queue tokens are checked first.',
        params: Type.Object({ scheduleId: Uuid, seatId: Uuid }),
        // optional here so that a missing token answers 401 QUEUE_TOKEN_INVALID from the guard, not 400
        headers: Type.Partial(QueueTokenHeaders),
        response: {
          201: Type.Ref('Reservation'),
          ...errorResponses(
            'UNAUTHENTICATED',
            'QUEUE_TOKEN_INVALID',
            'QUEUE_TOKEN_EXPIRED',
            'QUEUE_NOT_ADMITTED',
            'QUEUE_TOKEN_REVOKED',
            'SEAT_NOT_FOUND',
            'SEAT_ALREADY_HELD',
            'SEAT_OFFERED_TO_WAITLIST',
            'HOLD_LIMIT_REACHED',
          ),
        },
      },
      // Most attempts of a flash sale lose: answered first, from memory, before their path and headers are validated
      // and their tokens checked (the signature checks were about half of a losing attempt's CPU, measured), and no
      // state or secret is at stake: the seat map is public. The id is the path's raw text here, and the board
      // holds only ids the database gave it, so an id that is not a seat's goes on to validation and answers 400.
      // An attempt on a seat this instance is asking the database about waits for that answer here, before its
      // tokens too: in a race's first wave most attempts are on seats already being asked about, and lose.
      onRequest: (request, reply, done) => {
        const seatId = request.params.seatId
        if (deps.board.isTaken(seatId)) return void answerCatalogError(reply, 'SEAT_ALREADY_HELD')
        const ahead = deps.board.attemptInFlight(seatId)
        if (ahead === undefined) return done()
        void ahead.then(() => {
          if (deps.board.isTaken(seatId)) answerCatalogError(reply, 'SEAT_ALREADY_HELD')
          else done()
        })
      },
    },
    async (request, reply) => {
      const userId = deps.guard.user(request)
      deps.guard.admitted(request, userId, request.params.scheduleId)
      const reservation = await holdSeat(deps.database, deps.board, {
        scheduleId: request.params.scheduleId,
        seatId: request.params.seatId,
        userId,
        ttlSeconds: deps.holdTtlSeconds,
        maxSeats: deps.maxSeatsPerAdmission,
      })
      reply.status(201)
      return reservation
    },
  )

  app.get(
    '/reservations/:reservationId',
    {
      schema: {
        ...secured,
        summary: 'One of your reservations',
        params: Type.Object({ reservationId: Uuid }),
        response: {
          200: Type.Ref('Reservation'),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN', 'RESERVATION_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.user(request)
      const reservation = await findReservation(deps.db, request.params.reservationId)
      if (reservation.userId !== userId) throw new AppError('FORBIDDEN')
      return reservation
    },
  )

  app.delete(
    '/reservations/:reservationId',
    {
      schema: {
        ...secured,
        summary: 'Release your hold',
        params: Type.Object({ reservationId: Uuid }),
        response: {
          204: Type.Null(),
          ...errorResponses(
            'UNAUTHENTICATED',
            'FORBIDDEN',
            'RESERVATION_NOT_FOUND',
            'RESERVATION_NOT_PAYABLE',
          ),
        },
      },
    },
    async (request, reply) => {
      await cancelHold(deps.database, deps.board, request.params.reservationId, deps.guard.user(request))
      reply.status(204)
    },
  )

  app.get(
    '/users/:userId/reservations',
    {
      schema: {
        ...secured,
        summary: 'Your reservations, newest first',
        params: Type.Object({ userId: Uuid }),
        querystring: Type.Object(Pagination),
        response: {
          200: Type.Object({ reservations: Type.Array(Type.Ref('Reservation')) }),
          ...errorResponses('UNAUTHENTICATED', 'FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const userId = deps.guard.self(request, request.params.userId)
      const list = await listReservations(deps.db, userId, request.query.limit ?? 50)
      return { reservations: list }
    },
  )
}
