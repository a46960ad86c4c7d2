import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { Api } from '../support/api-client.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import { createSchedule } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

// The waiting room keeps moving when the instance running the background roles dies: every instance takes part in
// admission (a round belongs to whoever holds its advisory lock), so the API instance goes on admitting alone.
describe('admission survives a SIGKILLed workers instance [postgres]', () => {
  const secret = randomBytes(32).toString('hex')
  const queue = { QUEUE_TICK_MS: 100, QUEUE_ADMIT_PER_SECOND: 10, QUEUE_MAX_ACTIVE: 100_000 }
  let api: TestApp
  let workers: ChildProcess
  const workersLog: string[] = []
  before(async () => {
    api = await startTestApp(
      'postgres',
      'admission_failover',
      { AUTH_SECRET: secret, ...queue },
      { manualAdmission: false },
    )
    // The API instance runs on the embedded transport, so the workers must too: with KAFKA_BROKERS inherited from
    // npm test, they ran on Kafka, beside an API on the other transport, and left 75 unprefixed topics on the cluster.
    const { KAFKA_BROKERS: _brokers, KAFKA_TOPIC_PREFIX: _prefix, ...inherited } = process.env
    workers = spawn(process.execPath, ['src/main.ts'], {
      env: {
        ...inherited,
        DATABASE_URL: (api.app.database as { url?: string }).url!,
        ROLES: 'relay,workers',
        PORT: '0',
        AUTH_SECRET: secret,
        ADMIN_KEY: api.adminKey,
        SEED_DEMO: 'false',
        LOG_LEVEL: 'info',
        ...Object.fromEntries(Object.entries(queue).map(([k, v]) => [k, String(v)])),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    // Its log is read to the end, not only to the line that says it listens: a pipe nobody drains fills up, and
    // the instance then blocks in its next log write, in the middle of whatever it was doing (an admission round
    // holding its locks, once: the API instance's requests waited on them until the test timed out).
    const listening = new Promise<void>((resolve, reject) => {
      createInterface({ input: workers.stdout! }).on('line', (line) => {
        workersLog.push(line)
        if (workersLog.length > 50) workersLog.shift()
        if (line.includes('ticketing service listening')) resolve()
      })
      workers.once('exit', (code) =>
        reject(new Error(`the workers instance exited (${code}):\n${workersLog.join('\n')}`)),
      )
    })
    await listening
  })
  after(async () => {
    if (workers.exitCode === null && workers.signalCode === null) {
      workers.kill('SIGKILL')
      await once(workers, 'exit')
    }
    await api.close()
  })

  test('fans go on being admitted in order after the workers instance is killed', async (t) => {
    const http = new Api(api.url)
    const { scheduleId } = await createSchedule(http, api.adminKey, { seats: 10 })
    const fans = await seedAdmittedFans(api.app.database.db, {
      count: 150,
      points: 0,
      secret,
      scheduleId,
      admit: false,
    })
    const entered = await Promise.all(
      fans.map((fan) => http.post(`/schedules/${scheduleId}/queue`, { token: fan.token })),
    )
    assert.deepEqual(new Set(entered.map((r) => r.status)), new Set([201]))
    const admitted = async () =>
      Number(
        (
          await sql<{ n: number }>`select count(*)::int as n from queue_entries
            where schedule_id = ${scheduleId} and status = 'admitted'`.execute(api.app.database.db)
        ).rows[0]!.n,
      )
    await waitFor('the line moving', async () => (await admitted()) >= 10, { timeoutMs: 30_000 })
    assert.equal(workers.exitCode, null, `the workers instance was still running:\n${workersLog.join('\n')}`)
    const exited = once(workers, 'exit')
    workers.kill('SIGKILL')
    await exited
    const atKill = await admitted()
    assert.ok(atKill < fans.length - 10, `the line ran out before the kill (${atKill} admitted)`)
    await waitFor('admissions after the kill', async () => (await admitted()) >= atKill + 10, {
      timeoutMs: 30_000,
    })
    // In order: the admitted fans are a prefix of the line.
    const order = await sql<{ problems: number; gap_ms: number }>`
      select (select count(*)::int from queue_entries w
                where w.schedule_id = ${scheduleId} and w.status = 'waiting'
                  and w.seq < (select max(seq) from queue_entries where schedule_id = ${scheduleId} and status = 'admitted'))
               as problems,
             (select coalesce(max(gap), 0) * 1000 from (
                select extract(epoch from admitted_at - lag(admitted_at) over (order by admitted_at))::float8 as gap
                  from queue_entries where schedule_id = ${scheduleId} and admitted_at is not null) g) as gap_ms`.execute(
      api.app.database.db,
    )
    assert.equal(order.rows[0]!.problems, 0, 'a fan behind was admitted before one ahead')
    t.diagnostic(`longest pause between admissions around the kill: ${Math.round(order.rows[0]!.gap_ms)} ms`)
  })
})
