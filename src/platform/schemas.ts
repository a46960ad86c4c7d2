import Type from 'typebox'

/** Small shared TypeBox pieces for route schemas. */
export const Uuid = Type.String({ format: 'uuid' })
export const DateTime = Type.String({ format: 'date-time' })
export const Points = Type.Integer({ minimum: 1, maximum: 100_000_000 })
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.String({
    minLength: 1,
    maxLength: 200,
    description: 'Replays return the first answer',
  }),
})
export const QueueTokenHeaders = Type.Object({ 'x-queue-token': Type.String({ minLength: 1 }) })
export const Pagination = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
}
