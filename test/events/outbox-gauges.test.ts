// The outbox's backlog as the relay's gauges and the ops pages read it: what it says, and what reading it costs the
// database.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type KyselyPlugin, sql } from 'kysely'
import { Registry } from 'prom-client'
import { backlogQuery, outboxBacklog } from '../../src/events/outbox/backlog.ts'
import {
  beginRelayBatch,
  createOutboxRelay,
  pendingStatement,
  relayHeadQuery,
} from '../../src/events/outbox/relay.ts'
import { createLocalTransport } from '../../src/events/transport/local/transport.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'

test('a scrape reads the outbox once for both of its gauges (backlog and oldest age)', async (t) => {
  const database = await createTestDatabase('pglite', 'outbox-gauges')
  t.after(() => database.close())
  await sql`insert into outbox (id, topic, key, event, created_at)
            select gen_random_uuid(), 'reservation.held', 'k' || i, '{}'::jsonb, now() - interval '30 seconds'
              from generate_series(1, 3) as i`.execute(database.db)
  // Every statement the relay runs goes through this plugin: a count over a real database, not a stand-in.
  let statements = 0
  const counting: KyselyPlugin = {
    transformQuery: (args) => {
      statements++
      return args.node
    },
    transformResult: async (args) => args.result,
  }
  const handle = { ...database, db: database.db.withPlugin(counting) }
  const logger = createLogger('silent')
  const registry = new Registry()
  createOutboxRelay({
    database: handle,
    transport: createLocalTransport(handle, { logger }),
    logger,
    registry,
  })

  for (let scrape = 1; scrape <= 2; scrape++) {
    const before = statements
    const text = await registry.metrics()
    assert.equal(statements - before, 1, `scrape ${scrape}: one read of the outbox`)
    assert.match(text, /^outbox_backlog 3$/m)
    const age = Number(/^outbox_oldest_age_seconds (\S+)$/m.exec(text)?.[1])
    assert.ok(age >= 30 && age < 120, `oldest age ${age} s`)
  }
})

/** Rows of outbox read by every scan in a plan, as EXPLAIN ANALYZE counts them. */
function outboxRowsRead(plan: ExplainNode): number {
  const own = plan['Relation Name'] === 'outbox' ? plan['Actual Rows'] * plan['Actual Loops'] : 0
  return own + (plan.Plans ?? []).reduce((sum, child) => sum + outboxRowsRead(child), 0)
}
interface ExplainNode {
  'Relation Name'?: string
  'Index Name'?: string
  'Shared Hit Blocks'?: number
  'Shared Read Blocks'?: number
  'Actual Rows': number
  'Actual Loops': number
  Plans?: ExplainNode[]
}

for (const kind of databaseKinds) {
  test(`${kind}: the backlog is counted up to a bound and read off the sequence past it, never by reading the whole outbox`, async (t) => {
    const database = await createTestDatabase(kind, 'outbox-backlog')
    t.after(() => database.close())
    const db = database.db
    await sql`insert into outbox (id, topic, key, event, created_at)
              select gen_random_uuid(), 'reservation.held', 'k' || i, '{}'::jsonb, now() - interval '1 second' * (600 - i)
                from generate_series(1, 500) as i`.execute(db)
    const { rows: first } = await sql<{ seq: string }>`select min(seq)::text as seq from outbox`.execute(db)
    const firstSeq = Number(first[0]!.seq)

    // Under the bound: the count, exact.
    assert.deepEqual(
      { ...(await outboxBacklog(db, 1_000)), oldestAgeSeconds: undefined },
      { backlog: 500, exact: true, oldestAgeSeconds: undefined },
    )
    // Past it: the span of the sequence numbers, which is the count while nothing was taken from the middle.
    const past = await outboxBacklog(db, 100)
    assert.equal(past.backlog, 500)
    assert.equal(past.exact, false)
    // The first row's age: it was written 599 s ago.
    assert.ok(
      past.oldestAgeSeconds >= 599 && past.oldestAgeSeconds < 700,
      `oldest ${past.oldestAgeSeconds} s`,
    )

    // Rows published from the middle and from the head: the span is an upper bound, the bounded count still exact.
    await sql`delete from outbox where seq between ${firstSeq + 100} and ${firstSeq + 199} or seq < ${firstSeq + 10}`.execute(
      db,
    )
    assert.equal((await outboxBacklog(db, 1_000)).backlog, 390)
    assert.equal((await outboxBacklog(db, 1_000)).exact, true)
    assert.equal((await outboxBacklog(db, 100)).backlog, 490)
    const aged = (await outboxBacklog(db, 100)).oldestAgeSeconds
    assert.ok(aged >= 589 && aged < 599, `oldest after the head went: ${aged} s`)

    // What the read costs: at most bound + 1 rows counted and one row at each end of the primary key, whatever the size.
    await sql`analyze outbox`.execute(db)
    const { rows: explained } = await sql<{
      'QUERY PLAN': unknown
    }>`explain (analyze, format json) ${backlogQuery(100)}`.execute(db)
    const raw = explained[0]!['QUERY PLAN']
    const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: ExplainNode }[]
    const read = outboxRowsRead(plan[0]!.Plan)
    assert.ok(read <= 101 + 3, `${read} outbox rows read for a backlog of 390`)

    // An empty outbox.
    await sql`delete from outbox`.execute(db)
    assert.deepEqual(await outboxBacklog(db), { backlog: 0, exact: true, oldestAgeSeconds: 0 })
  })
}

/** Pages of outbox and its indexes that every scan in a plan touched, as EXPLAIN (ANALYZE, BUFFERS) counts them. */
function outboxPagesRead(plan: ExplainNode): number {
  const own = /^outbox/.test(plan['Relation Name'] ?? plan['Index Name'] ?? '')
    ? (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0)
    : 0
  return own + (plan.Plans ?? []).reduce((sum, child) => sum + outboxPagesRead(child), 0)
}

for (const kind of databaseKinds) {
  test(`${kind}: after a sale's events are published, the relay's reads walk the primary key, not every page the burst left, before a vacuum and after it`, async (t) => {
    const database = await createTestDatabase(kind, 'outbox-dead-rows')
    t.after(() => database.close())
    const db = database.db
    // A burst's published events, not vacuumed yet (autovacuum comes a minute apart at best, and is off here).
    await sql`alter table outbox set (autovacuum_enabled = off)`.execute(db)
    await sql`insert into outbox (id, topic, key, event)
              select gen_random_uuid(), 'reservation.held', 'k' || i, jsonb_build_object('data', repeat('x', 400))
                from generate_series(1, 20000) as i`.execute(db)
    // The newest event is not published yet: it comes after all of them, in the heap as in sequence order.
    await sql`insert into outbox (id, topic, key, event)
              values (gen_random_uuid(), 'reservation.held', 'live', jsonb_build_object('data', repeat('x', 400)))`.execute(
      db,
    )
    await sql`delete from outbox where key <> 'live'`.execute(db)
    const { rows: size } = await sql<{ pages: number }>`
      select (pg_relation_size('outbox') / current_setting('block_size')::int)::int as pages`.execute(db)
    const heapPages = size[0]!.pages
    assert.ok(heapPages > 500, `${heapPages} heap pages`)

    type Explained = { 'QUERY PLAN': unknown }
    const pagesRead = (explained: Explained[]) => {
      const raw = explained[0]!['QUERY PLAN']
      const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: ExplainNode }[]
      return outboxPagesRead(plan[0]!.Plan)
    }
    // As the relay asks: the topics it knows. A literal: EXPLAIN EXECUTE takes no bound parameters.
    const topics = ['reservation.held', 'reservation.confirmed']
    const topicsLiteral = sql.raw(`'{${topics.join(',')}}'::text[]`)
    /** Pages of the outbox read by the relay's idle look, the backlog's reading and a batch's read of the head. */
    const reads = () =>
      db.connection().execute(async (c) => {
        await sql.raw(`prepare pending_look(text[]) as ${pendingStatement.text}`).execute(c)
        try {
          const look = () =>
            sql<Explained>`explain (analyze, buffers, format json) execute pending_look(${topicsLiteral})`.execute(
              c,
            )
          const backlog = () =>
            sql<Explained>`explain (analyze, buffers, format json) ${backlogQuery(10_000)}`.execute(c)
          // Both forms of the head's read: with each event as text (Kafka), and without (the embedded log).
          const head = (withEvents: boolean) =>
            c.transaction().execute(async (tx) => {
              assert.equal(await beginRelayBatch(tx), true)
              // The rest of the relay's transaction is planned as its head: a scan with no other path than the
              // sequential one (the positions, read whole) must not be JIT-compiled for its cost (48 ms a batch).
              const { rows: positions } = await sql<Explained>`
                explain (analyze, format json) select topic, partition, next_offset from relay_positions`.execute(
                tx,
              )
              assert.doesNotMatch(JSON.stringify(positions), /"JIT"/)
              return sql<Explained>`explain (analyze, buffers, format json) ${relayHeadQuery(tx, topics, 2000, withEvents)}`.execute(
                tx,
              )
            })
          // The first scans find the index's entries dead and mark them so; the relay's own reads do that as it goes.
          await look()
          await backlog()
          await head(true)
          const { rows } = await sql<{ pending: boolean }>`execute pending_look(${topicsLiteral})`.execute(c)
          assert.equal(rows[0]!.pending, true)
          return {
            look: pagesRead((await look()).rows),
            backlog: pagesRead((await backlog()).rows),
            head: pagesRead((await head(true)).rows),
            headWithoutEvents: pagesRead((await head(false)).rows),
          }
        } finally {
          await sql`deallocate pending_look`.execute(c)
        }
      })
    const bound = (pages: Record<string, number>, when: string) => {
      for (const [what, read] of Object.entries(pages))
        assert.ok(read < heapPages / 4, `${when}: ${what} read ${read} pages; the heap has ${heapPages}`)
    }
    bound(await reads(), 'before a vacuum')
    // A vacuum frees the pages but cannot cut them off (the live row is on the last), and says one row is left.
    await sql`vacuum analyze outbox`.execute(db)
    bound(await reads(), 'after a vacuum')

    assert.deepEqual(
      { ...(await outboxBacklog(db)), oldestAgeSeconds: undefined },
      { backlog: 1, exact: true, oldestAgeSeconds: undefined },
    )
  })
}
