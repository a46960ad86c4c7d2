import Type from 'typebox'
import type { EventBackbone } from '../events/backbone.ts'
import { outboxBacklog } from '../events/outbox/backlog.ts'
import { countDeadLetters } from '../events/runtime/dead-letter-store.ts'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'

/** What the on-call engineer looks at first: transport, outbox backlog, lag per group and partition, dead letters. */
export const opsRoutes: Routes<{ db: Db; events: EventBackbone }> = async (app, deps) => {
  app.get(
    '/admin/ops/summary',
    {
      schema: {
        tags: ['operations'],
        summary: 'Event pipeline health: transport, outbox backlog, consumer lag, dead letters',
        response: {
          200: Type.Object({
            transport: Type.String(),
            outbox: Type.Object({ backlog: Type.Integer(), oldestAgeSeconds: Type.Number() }),
            deadLetters: Type.Integer(),
            lag: Type.Array(
              Type.Object({
                group: Type.String(),
                topic: Type.String(),
                partition: Type.Integer(),
                committed: Type.String(),
                end: Type.String(),
                lag: Type.Integer(),
              }),
            ),
          }),
          ...errorResponses('ADMIN_KEY_INVALID'),
        },
      },
    },
    async () => {
      const outbox = await outboxBacklog(deps.db)
      const lag = await deps.events.transport.lag(deps.events.runtime.subscriptions)
      return {
        transport: deps.events.transport.kind,
        outbox,
        deadLetters: await countDeadLetters(deps.db),
        lag: lag.map((l) => ({
          group: l.group,
          topic: l.topic,
          partition: l.partition,
          committed: l.committed.toString(),
          end: l.end.toString(),
          lag: Number(l.lag),
        })),
      }
    },
  )
}
