import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/platform/config.ts'
import type { Db } from '../../src/platform/db.ts'
import { dueOf, serverAutovacuums, tablesDue, vacuumPlan } from '../../src/retention/vacuum.ts'
import { captureLogger } from '../support/capture-logger.ts'
import { createTestDatabase, databaseKinds } from '../support/databases.ts'
import { counterValue } from '../support/metrics.ts'
import { startTestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

const EVENTS_PER_ROUND = 4_000
const ROUNDS = 4

/**
 * How far past the first round's size a later round's may reach where the service vacuums: short of a second round's
 * worth of new pages (without a vacuum round n takes n times the first's). Not the first's size exactly: the relay's
 * reads prune the pages they pass (their dead tuples counted off the statistics, their space not entered in the free
 * space map), so a table that autovacuum's rules no longer call due can leave some of a round's space out of the map
 * until its next vacuum (seen once in CI on PostgreSQL: 2.7, 2.7, 2.7 and 3.9 MB; the next round's vacuum takes those
 * pages back).
 */
const REUSED_WITHIN = 2

/**
 * `n` events through the service's own `outbox_append`, in one transaction (a burst of queue entries); returns the
 * outbox heap's size in bytes with them in it, read before the commit, so that no relay or vacuum has touched them.
 */
async function appendEvents(db: Db, n: number): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await sql`
      select outbox_append('queue.entered', s::text || ':' || u::text,
        jsonb_build_object('scheduleId', s, 'userId', u, 'preQueue', false, 'enteredAt', iso_time(clock_timestamp())))
      from (select gen_random_uuid() as s, gen_random_uuid() as u from generate_series(1, ${n})) f`.execute(
      tx,
    )
    return (await sql<{ bytes: number }>`select pg_relation_size('outbox')::int as bytes`.execute(tx))
      .rows[0]!.bytes
  })
}

const outboxStats = async (db: Db) =>
  (
    await sql<{ bytes: number; vacuums: number; dead: number }>`
      select pg_relation_size('outbox')::int as bytes,
             (select n_dead_tup from pg_stat_user_tables where relname = 'outbox' and schemaname = current_schema())::int
               as dead,
             (select vacuum_count from pg_stat_user_tables where relname = 'outbox' and schemaname = current_schema())::int
               as vacuums`.execute(db)
  ).rows[0]!

const outboxEmpty = async (db: Db) =>
  (await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(db)).rows[0]!.n === 0

/**
 * Rounds of a burst of events that the relay publishes and deletes, the outbox's heap measured with each burst in it:
 * where the service vacuums, each burst's rows reuse the space the last one's left; where nothing does, every burst
 * takes new pages.
 */
async function outboxAfterRounds(
  kind: 'pglite' | 'postgres',
  vacuum: 'auto' | 'on' | 'off',
): Promise<{ sizes: number[]; vacuumRuns: number }> {
  const t = await startTestApp(
    kind,
    `vacuum_${vacuum}`,
    { VACUUM: vacuum, VACUUM_INTERVAL_MS: 100 },
    { background: true },
  )
  try {
    const db = t.app.database.db
    const sizes: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const start = await outboxStats(db)
      sizes.push(await appendEvents(db, EVENTS_PER_ROUND))
      await waitFor('the relay to publish the round', () => outboxEmpty(db), { timeoutMs: 60_000 })
      if (vacuum !== 'off') {
        // Past the interval at which a session reports its deletes to the statistics (1 s), a vacuum since the round
        // began and fewer dead tuples than autovacuum's threshold left (vacuumed, or pruned by the relay's reads:
        // REUSED_WITHIN).
        await sleep(1_100)
        await waitFor(
          'a vacuum of the outbox after the round',
          async () => {
            const now = await outboxStats(db)
            return now.vacuums > start.vacuums && now.dead < 50
          },
          { timeoutMs: 30_000, describe: () => outboxStats(db) },
        )
      }
    }
    const vacuumRuns = await counterValue(t.app.metrics.registry, 'vacuum_runs_total', {
      table: 'outbox',
      operation: 'vacuum',
    })
    return { sizes, vacuumRuns }
  } finally {
    await t.close()
  }
}

describe('vacuum: the service vacuums its tables where nothing else does', () => {
  test('which instances vacuum: PGlite by default, a PostgreSQL server only when asked (its autovacuum does it)', () => {
    assert.equal(vacuumPlan('auto', 'pglite', false), 'vacuum')
    assert.equal(vacuumPlan('auto', 'postgres', true), 'none')
    assert.equal(vacuumPlan('auto', 'postgres', false), 'warn')
    assert.equal(vacuumPlan('on', 'postgres', true), 'vacuum')
    assert.equal(vacuumPlan('off', 'pglite', false), 'none')
  })

  test("autovacuum's rules: dead tuples, inserts, changes, and the age of the oldest unfrozen transaction id", () => {
    const settings = {
      vacuumThreshold: 50,
      vacuumScaleFactor: 0.2,
      insertThreshold: 1000,
      insertScaleFactor: 0.2,
      analyzeThreshold: 50,
      analyzeScaleFactor: 0.1,
      freezeMaxAge: 200_000_000,
      multixactFreezeMaxAge: 400_000_000,
    }
    const quiet = {
      table: 'seats',
      rows: 10_000,
      deadTuples: 2_050,
      insertedSinceVacuum: 3_000,
      changedSinceAnalyze: 1_050,
      xidAge: 199_999_999,
      multixactAge: 0,
    }
    assert.equal(dueOf(quiet, settings), undefined)
    const due = (change: Partial<typeof quiet>) => {
      const d = dueOf({ ...quiet, ...change }, settings)
      return d && `${d.vacuum ? 'vacuum' : ''}${d.analyze ? 'analyze' : ''}`
    }
    assert.equal(due({ deadTuples: 2_051 }), 'vacuum')
    assert.equal(due({ insertedSinceVacuum: 3_001 }), 'vacuum')
    assert.equal(due({ changedSinceAnalyze: 1_051 }), 'analyze')
    assert.equal(due({ deadTuples: 2_051, changedSinceAnalyze: 1_051 }), 'vacuumanalyze')
    // A table nobody changes, whose rows are older than the freeze maximum, still needs its vacuum.
    assert.equal(
      due({ deadTuples: 0, insertedSinceVacuum: 0, changedSinceAnalyze: 0, xidAge: 200_000_001 }),
      'vacuum',
    )
    assert.equal(due({ multixactAge: 400_000_001 }), 'vacuum')
    // Never analyzed (-1 rows) counts as empty; an insert threshold of -1 turns inserts off.
    assert.equal(due({ rows: -1, deadTuples: 51, changedSinceAnalyze: 0 }), 'vacuum')
    assert.equal(
      dueOf({ ...quiet, insertedSinceVacuum: 10_000_000 }, { ...settings, insertThreshold: -1 }),
      undefined,
    )
  })

  for (const kind of databaseKinds) {
    test(`${kind}: a table past autovacuum's thresholds is due, by the server's own settings; a vacuum clears it`, async (t) => {
      const database = await createTestDatabase(kind, 'vacuum_due')
      t.after(() => database.close())
      const db = database.db
      await sql`create table churn (id int primary key, v text)`.execute(db)
      await sql`insert into churn select i, 'x' from generate_series(1, 40) i`.execute(db)
      // 40 changed rows: under the analyze threshold of 50 on a never-analyzed table.
      await waitFor('the statistics of the inserts', async () => {
        await sql`select pg_stat_force_next_flush()`.execute(db)
        const s = await sql<{
          n: number
        }>`select n_mod_since_analyze::int as n from pg_stat_user_tables where relname = 'churn'`.execute(db)
        return s.rows[0]?.n === 40
      })
      assert.equal(
        (await tablesDue(db)).find((d) => d.table === 'churn'),
        undefined,
      )
      await sql`delete from churn where id <= 30`.execute(db)
      await sql`insert into churn select i, 'y' from generate_series(41, 100) i`.execute(db)
      const due = await waitFor('churn to be due', async () => {
        await sql`select pg_stat_force_next_flush()`.execute(db)
        return (await tablesDue(db)).find((d) => d.table === 'churn')
      })
      // 30 dead tuples is under 50 + 0.2 × rows; 130 changes is over 50 + 0.1 × rows.
      assert.deepEqual(due, { table: 'churn', vacuum: false, analyze: true, deadTuples: 30 })
      await sql`delete from churn where id <= 90`.execute(db)
      const both = await waitFor('churn to need a vacuum', async () => {
        await sql`select pg_stat_force_next_flush()`.execute(db)
        const d = (await tablesDue(db)).find((x) => x.table === 'churn')
        return d?.vacuum ? d : undefined
      })
      assert.equal(both.deadTuples, 90)
      await sql`vacuum (analyze) churn`.execute(db)
      await waitFor('churn no longer due', async () => {
        await sql`select pg_stat_force_next_flush()`.execute(db)
        return !(await tablesDue(db)).some((d) => d.table === 'churn')
      })
    })
  }

  test('pglite (VACUUM=auto): the outbox reuses its space round after round; with VACUUM=off it grows by every round', async () => {
    const kept = await outboxAfterRounds('pglite', 'auto')
    const grown = await outboxAfterRounds('pglite', 'off')
    console.log(
      `[figure] PGlite's outbox heap with each of 4 bursts in it: ${kept.sizes.join(', ')} bytes; VACUUM=off: ${grown.sizes.join(', ')}`,
    )
    const [first] = kept.sizes
    assert.ok(first! > 0, `the first round took pages: ${kept.sizes}`)
    for (const size of kept.sizes)
      assert.ok(size < first! * REUSED_WITHIN, `vacuumed: ${kept.sizes} bytes with each burst`)
    assert.ok(kept.vacuumRuns >= ROUNDS, `vacuum_runs_total{table="outbox"} ${kept.vacuumRuns}`)
    assert.ok(
      grown.sizes[ROUNDS - 1]! >= grown.sizes[0]! * (ROUNDS - 1),
      `without vacuum: ${grown.sizes} bytes with each burst`,
    )
    assert.equal(grown.vacuumRuns, 0)
  })

  test('pglite: its WAL is recycled once a segment has been written since the last checkpoint; with VACUUM=off it keeps every byte', async () => {
    const walAfterRounds = async (vacuum: 'auto' | 'off') => {
      const t = await startTestApp(
        'pglite',
        `wal_${vacuum}`,
        { VACUUM: vacuum, VACUUM_INTERVAL_MS: 100 },
        { background: true },
      )
      try {
        const db = t.app.database.db
        const checkpoints = () => counterValue(t.app.metrics.registry, 'pglite_checkpoints_total')
        await sql`create table churn (id bigserial primary key, v text)`.execute(db)
        for (let round = 0; round < 8; round++) {
          const before = await checkpoints()
          // About 20 MB of WAL a round.
          await sql`insert into churn (v) select repeat('x', 1000) from generate_series(1, 15000)`.execute(db)
          await sql`delete from churn`.execute(db)
          if (vacuum === 'auto')
            await waitFor('a checkpoint after the round', async () => (await checkpoints()) > before)
        }
        const { rows } = await sql<{
          mb: number
        }>`select (sum(size) / 1048576)::float8 as mb from pg_ls_waldir()`.execute(db)
        return { mb: rows[0]!.mb, checkpoints: await checkpoints() }
      } finally {
        await t.close()
      }
    }
    const kept = await walAfterRounds('auto')
    const grown = await walAfterRounds('off')
    console.log(
      `[figure] PGlite's WAL after 8 rounds of ~20 MB: ${kept.mb} MB with ${kept.checkpoints} checkpoints, ${grown.mb} MB without`,
    )
    assert.ok(grown.mb >= 140, `without checkpoints the WAL holds every round: ${grown.mb} MB`)
    assert.equal(grown.checkpoints, 0)
    assert.ok(kept.mb <= 110, `checkpointed: ${kept.mb} MB of WAL after 8 rounds (without: ${grown.mb})`)
  })

  // A PostgreSQL server only (where TEST_DATABASES has one): its own autovacuum is the default there.
  for (const server of databaseKinds.filter((k) => k !== 'pglite')) {
    test(`${server} (VACUUM=on): the outbox reuses its space round after round`, async () => {
      const { sizes, vacuumRuns } = await outboxAfterRounds(server, 'on')
      console.log(
        `[figure] PostgreSQL's outbox heap with each of 4 bursts in it, VACUUM=on: ${sizes.join(', ')} bytes`,
      )
      for (const size of sizes)
        assert.ok(size < sizes[0]! * REUSED_WITHIN, `vacuumed: ${sizes} bytes with each burst`)
      assert.ok(vacuumRuns >= ROUNDS, `vacuum_runs_total{table="outbox"} ${vacuumRuns}`)
    })

    test(`${server} (VACUUM=auto): the service warns at start when the server does not autovacuum, and vacuums nothing`, async (t) => {
      const database = await createTestDatabase(server, 'vacuum_warn')
      // What the server says in pg_settings: its launcher runs only with both on.
      const { rows: settings } = await sql<{ name: string; setting: string }>`
        select name, setting from pg_settings where name in ('autovacuum', 'track_counts')`.execute(
        database.db,
      )
      const shown = settings.length === 2 && settings.every((r) => r.setting === 'on')
      assert.equal(await serverAutovacuums(database.db), shown)
      const { logger, lines } = captureLogger('warn')
      const config = loadConfig(
        {},
        {
          PORT: 0,
          ROLES: 'workers',
          AUTH_SECRET: randomBytes(32).toString('hex'),
          ADMIN_KEY: randomBytes(16).toString('hex'),
          VACUUM_INTERVAL_MS: 50,
        },
      )
      const app = await buildApp({ config, database, logger, manualAdmission: true })
      t.after(() => app.close())
      await app.start()
      const warned = lines.some((l) => l.includes('autovacuum is off on this PostgreSQL server'))
      assert.equal(warned, !shown, `server autovacuum ${shown}; warnings: ${lines.join('')}`)
      // The outbox due for a vacuum, as a loop would see it; then six of its intervals without one.
      await appendEvents(database.db, 200)
      await sql`delete from outbox`.execute(database.db)
      await waitFor('the outbox due for a vacuum', async () =>
        (await tablesDue(database.db)).some((d) => d.table === 'outbox' && d.vacuum),
      )
      await sleep(300)
      assert.equal(await counterValue(app.metrics.registry, 'vacuum_runs_total'), 0)
    })
  }
})
