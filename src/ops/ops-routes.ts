import Type from 'typebox'
import type { EventBackbone } from '../events/backbone.ts'
import { outboxBacklog } from '../events/outbox/backlog.ts'
import { countDeadLetters } from '../events/runtime/dead-letter-store.ts'
import type { Db } from '../platform/db.ts'
import { errorResponses, type Routes } from '../platform/http-server.ts'
import { deploymentLag } from './deployment-lag.ts'
import type { OpsSeries } from './ops-series.ts'

/** What the on-call engineer looks at first: transport, outbox backlog, lag per group and partition, dead letters. */
export const opsRoutes: Routes<{ db: Db; events: EventBackbone; series: OpsSeries }> = async (app, deps) => {
  app.get(
    '/admin/ops/series',
    {
      schema: {
        tags: ['operations'],
        summary: 'The last 15 minutes of the console figures, one point per OPS_SAMPLE_MS',
        description:
          'Admissions, queue length, outbox backlog, lag and dead letters cover the deployment; holds, payments and 409s are counted by the instance that answers (Prometheus sums every instance).',
        response: {
          200: Type.Object({
            intervalSeconds: Type.Number(),
            points: Type.Array(
              Type.Object({
                at: Type.String({ format: 'date-time' }),
                admissionsPerSecond: Type.Number(),
                queueLength: Type.Integer(),
                holdsPerSecond: Type.Number(),
                paymentsPerSecond: Type.Number(),
                conflictsPerSecond: Type.Number(),
                outboxBacklog: Type.Integer(),
                deadLetters: Type.Integer(),
                lag: Type.Record(Type.String(), Type.Integer()),
                /** The lag could not be read at this point (the transport did not answer): `lag` is empty. */
                lagUnknown: Type.Optional(Type.Boolean()),
              }),
            ),
          }),
          ...errorResponses('ADMIN_KEY_INVALID'),
        },
      },
    },
    async () => ({ intervalSeconds: deps.series.intervalMs / 1000, points: deps.series.points() }),
  )

  app.get(
    '/admin/ops/summary',
    {
      schema: {
        tags: ['operations'],
        summary: 'Event pipeline health: transport, outbox backlog, consumer lag, dead letters',
        response: {
          200: Type.Object({
            transport: Type.String(),
            outbox: Type.Object({
              /** Counted up to 10,000; past that an upper bound from the rows' sequence numbers (`exact` false). */
              backlog: Type.Integer(),
              exact: Type.Boolean(),
              oldestAgeSeconds: Type.Number(),
            }),
            deadLetters: Type.Integer(),
            lag: Type.Array(
              Type.Object({
                group: Type.String(),
                topic: Type.String(),
                partition: Type.Integer(),
                committed: Type.String(),
                end: Type.String(),
                lag: Type.Integer(),
                /**
                 * The group holds its events back while the fans keep the instance busy (YIELD_TO_FANS_MS), or only
                 * their fetching (hold-expiration: a hold is fetched late, ended on time).
                 */
                yieldsToFans: Type.Boolean(),
              }),
            ),
            /** The answering instance's fans and the side effects that yield to them (see Fans first). */
            fans: Type.Object({
              /** The fans keep the instance busy: FANS_BUSY_AT (32) or more of their operations in flight, or fewer for under 50 ms. */
              busy: Type.Boolean(),
              /** The groups that yield hold their events back now (busy, and the spell's YIELD_TO_FANS_MS not over). */
              sideEffectsWait: Type.Boolean(),
              inFlight: Type.Integer(),
              /** Busy spells that held events back since the instance started, and how long they did in all. */
              spells: Type.Integer(),
              yieldedSeconds: Type.Number(),
            }),
            /**
             * Why `lag` is empty or partial: the transport failed or did not answer in time (Kafka away), or some
             * brokers did not (one just died: `lagUnknown` lists what `lag` lacks).
             */
            lagUnavailable: Type.Optional(Type.String()),
            /** The groups' partitions a partial reading could not tell; `lag` has the rest. */
            lagUnknown: Type.Optional(
              Type.Array(
                Type.Object({ group: Type.String(), topic: Type.String(), partition: Type.Integer() }),
              ),
            ),
            /** When `lag` was read: one reading answers every caller for a second. */
            lagReadAt: Type.String({ format: 'date-time' }),
          }),
          ...errorResponses('ADMIN_KEY_INVALID'),
        },
      },
    },
    async () => {
      const outbox = await outboxBacklog(deps.db)
      const lag = await deploymentLag(deps.events)
      const yielding = new Set(
        deps.events.runtime.subscriptions
          .filter((s) => s.yieldsToFans || s.fetchYieldsToFans)
          .map((s) => s.group),
      )
      const { fans } = deps.events
      return {
        transport: deps.events.transport.kind,
        outbox,
        deadLetters: await countDeadLetters(deps.db),
        ...(lag.unavailable ? { lagUnavailable: lag.unavailable } : {}),
        ...(lag.unknown ? { lagUnknown: lag.unknown } : {}),
        lagReadAt: new Date(lag.at).toISOString(),
        lag: lag.entries.map((l) => ({
          group: l.group,
          topic: l.topic,
          partition: l.partition,
          committed: l.committed.toString(),
          end: l.end.toString(),
          lag: Number(l.lag),
          yieldsToFans: yielding.has(l.group),
        })),
        fans: {
          busy: fans.busy,
          sideEffectsWait: deps.events.runtime.holdingBack,
          inFlight: fans.inFlight,
          spells: fans.yielded.turns,
          yieldedSeconds: Math.round(fans.yielded.ms) / 1000,
        },
      }
    },
  )
}
