import { Counter, Gauge, Histogram } from 'prom-client'
import { durabilityFor, topicCatalog } from '../events/topics.ts'
import type { Module } from '../module.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import { fanLoad } from '../platform/fan-load.ts'
import { outboxLeftovers, pruneBatch, pruneEventLogBatch } from './prune-old-rows.ts'
import { ageRules } from './retention-rules.ts'
import { checkpointWhenDue, serverAutovacuums, tablesDue, vacuumPlan, vacuumTable } from './vacuum.ts'

/** Batches per rule and round: a large backlog is worked down over several rounds, never in one long burst. */
const MAX_BATCHES_PER_RULE = 50

/**
 * Retention: one background loop (workers role; one instance at a time through the `retention` advisory lock) that
 * deletes, in small batches, what is old enough in every table of the rules, and the embedded log below every group's
 * offset; it never deletes unpublished outbox events, only reports them. What it pruned is in the metrics. A second
 * loop vacuums the tables where nothing else does (VACUUM; see vacuumPlan).
 */
export const retentionModule: Module = {
  name: 'retention',
  async install({ db, database, config, logger, metrics }) {
    const log = logger.child({ slice: 'retention' })
    const pruned = new Counter({
      name: 'retention_pruned_rows_total',
      help: 'Rows deleted by retention, per rule',
      labelNames: ['rule'],
      registers: [metrics.registry],
    })
    const lastRound = new Gauge({
      name: 'retention_last_round_timestamp_seconds',
      help: 'When the last complete retention round ended',
      registers: [metrics.registry],
    })
    const stale = new Gauge({
      name: 'outbox_unpublished_stale_events',
      help: 'Outbox events older than RETENTION_OUTBOX_ALERT_SECONDS that no relay published (never deleted; alert)',
      registers: [metrics.registry],
    })
    const unknown = new Gauge({
      name: 'outbox_unknown_topic_events',
      help: 'Stale outbox events whose topic is not in the topic catalog (the relay cannot publish them)',
      registers: [metrics.registry],
    })
    for (const rule of [...ageRules.map((r) => r.name), 'event_log']) pruned.inc({ rule }, 0)

    const catalog = topicCatalog(durabilityFor(1), config.EVENT_PARTITIONS, config.retryDelaysMs.length)
    const eventLogRetention = new Map(
      config.kafkaBrokers.length > 0
        ? []
        : catalog.map((t) => [t.name, config.RETENTION_EVENT_LOG_SECONDS ?? t.retentionMs / 1000] as const),
    )
    const knownTopics = new Set(catalog.map((t) => t.name))

    async function drain(rule: string, batch: () => Promise<number | null>): Promise<'done' | 'locked'> {
      for (let i = 0; i < MAX_BATCHES_PER_RULE; i++) {
        const n = await batch()
        if (n === null) return 'locked'
        if (n > 0) pruned.inc({ rule }, n)
        if (n < config.RETENTION_BATCH_SIZE) return 'done'
      }
      return 'done'
    }

    const loop = createBackgroundLoop({
      name: 'retention',
      logger: log,
      idleMs: config.RETENTION_INTERVAL_MS,
      async run(signal) {
        for (const rule of ageRules) {
          if (signal.aborted) return false
          if (
            (await drain(rule.name, () => pruneBatch(db, rule, config, config.RETENTION_BATCH_SIZE))) ===
            'locked'
          ) {
            return false // another instance is pruning this round
          }
        }
        await drain('event_log', () => pruneEventLogBatch(db, eventLogRetention, config.RETENTION_BATCH_SIZE))
        const leftovers = await outboxLeftovers(db, config.RETENTION_OUTBOX_ALERT_SECONDS, knownTopics)
        stale.set(leftovers.stale)
        unknown.set(
          leftovers.byTopic
            .filter((t) => leftovers.unknownTopics.includes(t.topic))
            .reduce((n, t) => n + t.count, 0),
        )
        if (leftovers.stale > 0) {
          log.error(
            {
              stale: leftovers.stale,
              oldestAgeSeconds: Math.round(leftovers.oldestAgeSeconds),
              byTopic: leftovers.byTopic,
              unknownTopics: leftovers.unknownTopics,
            },
            'outbox events are not being published: is a relay running, and is every topic declared? (retention never deletes them)',
          )
        }
        lastRound.set(Date.now() / 1000)
        return false
      },
    })

    // Vacuum: every deleted or updated row (a published outbox event, a seat sold, a pruned record) stays in its
    // table as a dead tuple until a vacuum makes its space reusable, and a table's statistics come from analyze. The
    // rounds go table by table, most dead tuples first, and on PostgreSQL stop while the fans keep the instance busy
    // (FanLoad, which PGlite's routines do not count: there a vacuum holds the one connection, 2-14 ms for the outbox
    // after 5,000-60,000 events, up to 150 ms for an analyze of a large embedded log, due once it grew by a tenth).
    const vacuums = new Counter({
      name: 'vacuum_runs_total',
      help: 'Vacuums and analyzes the service ran on its own tables (VACUUM), per table and operation',
      labelNames: ['table', 'operation'],
      registers: [metrics.registry],
    })
    const vacuumSeconds = new Histogram({
      name: 'vacuum_duration_seconds',
      help: 'How long each of those took (on PGlite the one connection waits for it)',
      labelNames: ['operation'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [metrics.registry],
    })
    const checkpoints = new Counter({
      name: 'pglite_checkpoints_total',
      help: 'Checkpoints the service ran on PGlite, which has no checkpointer, so that its WAL is recycled',
      registers: [metrics.registry],
    })
    const fans = fanLoad(database)
    let checkpointedAt: string | undefined
    const vacuumLoop = createBackgroundLoop({
      name: 'vacuum',
      logger: log,
      idleMs: config.VACUUM_INTERVAL_MS,
      delayFirstRound: true,
      async run(signal) {
        for (const due of await tablesDue(db)) {
          if (signal.aborted || fans.busy) return false // a burst: the rest waits for the next round
          const started = performance.now()
          await vacuumTable(db, due)
          const operation = due.vacuum ? 'vacuum' : 'analyze'
          const ms = performance.now() - started
          vacuums.inc({ table: due.table, operation })
          vacuumSeconds.observe({ operation }, ms / 1000)
          log.debug(
            { table: due.table, operation, deadTuples: due.deadTuples, ms: Math.round(ms) },
            'vacuumed',
          )
        }
        if (database.kind === 'pglite' && !signal.aborted) {
          const at = await checkpointWhenDue(db, checkpointedAt)
          if (at !== checkpointedAt) checkpoints.inc()
          checkpointedAt = at
        }
        return false
      },
    })

    return [
      { name: 'retention', roles: ['workers'], start: () => loop.start(), stop: () => loop.stop() },
      {
        name: 'vacuum',
        roles: ['workers'],
        async start() {
          // Only `auto` on a server asks it whether it autovacuums.
          const asked = config.VACUUM === 'auto' && database.kind === 'postgres'
          const plan = vacuumPlan(config.VACUUM, database.kind, asked && (await serverAutovacuums(db)))
          if (plan === 'warn') {
            log.warn(
              'autovacuum is off on this PostgreSQL server: every published outbox event and every updated row stays ' +
                'in its table as a dead tuple, and reads of the outbox slow down as they pile up. Turn autovacuum on, ' +
                'or set VACUUM=on to have the service vacuum its own tables',
            )
          }
          if (plan === 'vacuum') vacuumLoop.start()
        },
        stop: () => vacuumLoop.stop(),
      },
    ]
  },
}
