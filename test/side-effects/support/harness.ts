import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import type { Db } from '../../../src/platform/db.ts'
import { Api } from '../../support/api-client.ts'
import { counterValue as counterOf } from '../../support/metrics.ts'
import { startTestApp, type TestApp } from '../../support/test-app.ts'
import type { TransportTarget } from '../../support/transports.ts'
import { mapLimit, percentile, waitFor } from '../../support/wait.ts'

export { transportTargets as targets } from '../../support/transports.ts'
export { mapLimit, percentile, waitFor }

export interface SideEffectApp extends TestApp {
  readonly api: Api
  readonly db: Db
  readonly secret: string
}

/**
 * The whole service (API, relay, every consumer group, admission and sweep loops) on a fresh PostgreSQL database,
 * on the target's transport. Background admission ticks every QUEUE_TICK_MS unless the test slows it down. On Kafka
 * the app's topics and groups live under a prefix of its own (KAFKA_TOPIC_PREFIX), deleted when it closes, so no
 * other run on the shared cluster sees its events or holds up its groups.
 */
export async function startApp(
  target: TransportTarget,
  name: string,
  overrides: Record<string, unknown> = {},
): Promise<SideEffectApp> {
  const prefix = `se-${name}-${randomBytes(4).toString('hex')}`
  const t = await startTestApp(
    'postgres',
    `se_${name}`,
    {
      // Short retry stages: failures reach their end (success or dead letter) within seconds.
      RETRY_DELAYS_MS: '200,400,800',
      ...(target.kind === 'kafka'
        ? { KAFKA_BROKERS: target.brokers.join(','), KAFKA_TOPIC_PREFIX: prefix }
        : {}),
      ...overrides,
    },
    { background: true, poolSize: 30 },
  )
  const secret = t.app.config.AUTH_SECRET
  if (!secret) throw new Error('the test app has no AUTH_SECRET')
  const groups = t.app.events.runtime.subscriptions.map((s) => `${prefix}.${s.group}`)
  return {
    ...t,
    api: new Api(t.url),
    db: t.app.database.db,
    secret,
    async close() {
      await t.close()
      if (target.kind === 'kafka') await deleteKafkaPrefix(target.brokers, prefix, groups)
    },
  }
}

/** Best effort: a closed app's topics and groups are removed so the shared cluster does not fill up. */
export async function deleteKafkaPrefix(
  brokers: readonly string[],
  prefix: string,
  groups: readonly string[] = [],
) {
  const { Admin } = await import('@platformatic/kafka')
  const admin = new Admin({ clientId: 'side-effects-cleanup', bootstrapBrokers: [...brokers] })
  try {
    if (groups.length > 0) await admin.deleteGroups({ groups: [...groups] }).catch(() => {})
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${prefix}.`))
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {})
  } finally {
    await admin.close().catch(() => {})
  }
}

/** The value of a counter of the app's metrics registry for the labels given (0 when never incremented). */
export const counterValue = (t: SideEffectApp, name: string, labels: Record<string, string>) =>
  counterOf(t.app.metrics.registry, name, labels)

/**
 * Waits until the outbox is empty and every consumer group has committed everything on its topics (retry stages
 * included), so a test ends with its side effects settled and leaves no work behind on a shared Kafka cluster.
 * The delayed groups are left out unless asked: hold-expiration holds each reservation.held until its deadline, paid or
 * not, and waitlist-offer-expiration each waitlist.offered until its deadline, taken or not.
 */
export async function quiesce(
  t: SideEffectApp,
  options: { timeoutMs?: number; holds?: boolean } = {},
): Promise<void> {
  const subscriptions = t.app.events.runtime.subscriptions.filter(
    (s) => options.holds || !delayedGroups.has(s.group),
  )
  const lagging = async () =>
    (await t.app.events.transport.lag(subscriptions))
      .filter((e) => e.lag > 0n)
      .map((e) => `${e.group} ${e.topic}[${e.partition}] ${e.lag}`)
  await waitFor(
    'outbox drained and every consumer group caught up',
    async () => (await countRows(t.db, 'outbox')) === 0 && (await lagging()).length === 0,
    {
      timeoutMs: options.timeoutMs ?? 60_000,
      intervalMs: 250,
      describe: async () => ({ outbox: await countRows(t.db, 'outbox'), lagging: await lagging() }),
    },
  )
}

const delayedGroups = new Set(['hold-expiration', 'waitlist-offer-expiration'])

async function countRows(db: Db, table: 'outbox'): Promise<number> {
  const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db)
  return r.rows[0]!.n
}

/** Dead letters whose event concerns one of `userIds` (every event type carries its user id). */
export async function deadLettersOf(
  t: SideEffectApp,
  userIds: ReadonlySet<string>,
): Promise<{ group: string; eventType: string | null; error: string; key: string }[]> {
  const res = await t.api.get('/admin/dead-letters?limit=1000', { headers: { 'x-admin-key': t.adminKey } })
  if (res.status !== 200) throw new Error(`dead letters: ${res.status}`)
  return (
    res.body.deadLetters as {
      group: string
      eventType: string | null
      error: string
      key: string
      value: string
    }[]
  ).filter((d) => {
    try {
      return userIds.has((JSON.parse(d.value) as { data?: { userId?: string } }).data?.userId ?? '')
    } catch {
      return false
    }
  })
}

/** Prints a figure for the report, tagged so it can be grepped out of the test output. */
export function report(label: string, figure: Record<string, unknown>): void {
  console.log(`[figure] ${label} ${JSON.stringify(figure)}`)
}

export function elapsedSince(started: number): number {
  return Math.round(performance.now() - started)
}

/** How the composer prints a time in messages ("2026-12-25 19:00 UTC"). */
export function shownTime(iso: string): string {
  return `${new Date(iso).toISOString().replace('T', ' ').slice(0, 16)} UTC`
}
