// The operator CLI (`npm run cli -- …`) as an on-call engineer runs it: its own process, against a real PostgreSQL
// database (migrate, seed) and a running service's admin API (dead letters: list, show, replay a letter that a real
// partner's 4xx put there), with the mistakes people make (no service at the URL, a wrong key, nothing to replay).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import { openPostgres } from '../../src/platform/db.ts'
import { Receiver } from '../side-effects/support/receiver.ts'
import { Api } from '../support/api-client.ts'
import { adminQuery, POSTGRES_ADMIN_URL } from '../support/databases.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import { buy, createSchedule } from '../support/flows.ts'
import { unusedPort } from '../support/sockets.ts'
import { startTestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** `node src/cli.ts <args>` with only the environment given (and PATH), as an operator's shell would run it. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 60_000,
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    if (typeof e.code !== 'number') throw error
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

describe('operator CLI', () => {
  test('migrate builds the schema of an empty database; seed adds the demo once and says so the second time', async () => {
    const name = `t_cli_${randomBytes(4).toString('hex')}`
    await adminQuery(`create database ${name}`)
    after(() => adminQuery(`drop database if exists ${name} with (force)`))
    const url = new URL(POSTGRES_ADMIN_URL)
    url.pathname = `/${name}`
    const env = { DATABASE_URL: url.toString() }

    const db = openPostgres(url.toString(), 1)
    after(() => db.close())
    const count = async (query: ReturnType<typeof sql<{ n: number }>>) =>
      (await query.execute(db.db)).rows[0]!.n

    const migrated = await cli(['migrate'], env)
    assert.equal(migrated.code, 0, migrated.stderr)
    assert.match(migrated.stdout, /migrations applied/)
    assert.equal(
      await count(sql<{ n: number }>`select count(*)::int as n from pg_tables where schemaname = 'public'
        and tablename in ('seats', 'reservations', 'outbox', 'dead_letters')`),
      4,
      'the service tables exist',
    )

    const seeded = await cli(['seed'], env)
    assert.equal(seeded.code, 0, seeded.stderr)
    const summary = JSON.parse(seeded.stdout)
    const seats = await count(sql<{ n: number }>`select count(*)::int as n from seats`)
    assert.ok(seats > 0, `the demo has seats: ${seeded.stdout}`)
    assert.ok(Object.keys(summary).length > 0, 'the summary says what was created')

    const again = await cli(['seed'], env)
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /demo data already present/)
    assert.equal(
      await count(sql<{ n: number }>`select count(*)::int as n from seats`),
      seats,
      'nothing added',
    )
  })

  test('a bad DATABASE_URL is refused with a message a person understands, not a stack trace', async () => {
    const run = await cli(['migrate'], { DATABASE_URL: 'mysql://nobody@127.0.0.1/x' })
    assert.notEqual(run.code, 0)
    assert.match(run.stderr, /DATABASE_URL/)
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
  })

  test('dead letters: a partner refusal is listed, shown and replayed once; mistakes end with one clear line', async (t) => {
    const receiver = await Receiver.start()
    t.after(() => receiver.close())
    // The whole service (API, relay, consumers) on its own PostgreSQL database; its data-platform partner refuses.
    const t0 = await startTestApp(
      'postgres',
      'cli',
      {
        DATA_PLATFORM_URL: receiver.url('/v1/reservations'),
        DATA_PLATFORM_AUTH_HEADER: 'Authorization: Bearer cli-test',
        RETRY_DELAYS_MS: '200,400,800',
      },
      { background: true },
    )
    t.after(() => t0.close())
    const app = { ...t0, api: new Api(t0.url), db: t0.app.database.db, secret: t0.app.config.AUTH_SECRET! }
    const env = { TICKETING_URL: app.url, ADMIN_KEY: app.adminKey }

    // The partner refuses (4xx): straight to the dead letters.
    await receiver.setMode('4xx')
    const show = await createSchedule(app.api, app.adminKey, { seats: 1 })
    const [fan] = await seedAdmittedFans(app.db, {
      count: 1,
      points: 1_000_000,
      secret: app.secret,
      scheduleId: show.scheduleId,
    })
    const { reservationId } = await buy(app.api, fan!, show.scheduleId, show.seats[0]!.id)
    const listed = await waitFor('the refused record listed by the CLI', async () => {
      const run = await cli(['dead-letters', 'list', '--group', 'data-platform'], env)
      assert.equal(run.code, 0, run.stderr)
      return run.stdout.includes('reservation.confirmed') && run.stdout
    })
    const id = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(listed)?.[0]
    assert.ok(id, `the table shows the dead letter's id:\n${listed}`)
    assert.match(listed, /data-platform/)

    const shown = await cli(['dead-letters', 'show', id], env)
    assert.equal(shown.code, 0, shown.stderr)
    const letter = JSON.parse(shown.stdout)
    assert.equal(letter.id, id)
    assert.equal(letter.status, 'dead')
    assert.equal(letter.originalTopic, 'reservation.confirmed')
    assert.equal(JSON.parse(letter.value).data.reservationId, reservationId)

    // Mistakes: nothing named to replay, a wrong key, no service at the URL, a URL that is not one, no key at all.
    const nothing = await cli(['dead-letters', 'replay'], env)
    assert.equal(nothing.code, 2)
    assert.match(nothing.stderr, /name dead letter ids, or --all, or --group/)
    const wrongKey = await cli(['dead-letters', 'list'], { ...env, ADMIN_KEY: 'not-the-key' })
    assert.equal(wrongKey.code, 1)
    assert.match(wrongKey.stderr, /^40[13] [A-Z_]+: .+\n$/)
    const away = await cli(['dead-letters', 'list', '--url', `http://127.0.0.1:${await unusedPort()}`], env)
    assert.equal(away.code, 1)
    assert.match(
      away.stderr,
      /^cannot reach the service at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); set --url or TICKETING_URL\n$/,
    )
    const notUrl = await cli(['dead-letters', 'list', '--url', 'localhost:3000'], env)
    assert.equal(notUrl.code, 1)
    assert.match(notUrl.stderr, /--url must be the service's http\(s\) base URL/)
    const notApi = await cli(['dead-letters', 'list', '--url', receiver.url('')], env)
    assert.equal(notApi.code, 1)
    assert.match(notApi.stderr, /answered \d{3} with something other than the ticketing API's JSON/)
    const noKey = await cli(['dead-letters', 'list'], { TICKETING_URL: app.url })
    assert.notEqual(noKey.code, 0)
    assert.match(noKey.stderr, /--admin-key/)
    assert.equal(receiver.recordsWhere((r) => r.body?.reservationId === reservationId).length, 0)

    // The partner is fixed; the operator replays: delivered once, the letter marked replayed, none left dead.
    await receiver.setMode('ok')
    const replayed = await cli(['dead-letters', 'replay', id], env)
    assert.equal(replayed.code, 0, replayed.stderr)
    assert.match(replayed.stdout, /^replayed 1\n$/)
    await waitFor(
      'the replayed record reaches the partner',
      () => receiver.recordsWhere((r) => r.body?.reservationId === reservationId).length === 1,
    )
    const after = JSON.parse((await cli(['dead-letters', 'show', id], env)).stdout)
    assert.equal(after.status, 'replayed')
    const left = await cli(['dead-letters', 'list', '--group', 'data-platform'], env)
    assert.match(left.stdout, /^no dead letters\n$/)
    const again = await cli(['dead-letters', 'replay', id], env)
    assert.equal(again.code, 1, 'a letter already replayed is not sent twice')
    assert.match(again.stderr, /^409 DEAD_LETTER_NOT_REPLAYABLE: Dead letter .+ was already replayed\.\n$/)
  })

  test('bench passes its arguments to the benchmark suite: --help lists the paths, a wrong path fails', async () => {
    const help = await cli(['bench', '--help'])
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /^usage: npm run bench/)
    assert.match(help.stdout, /holds-race, holds-free, payments/)
    const wrong = await cli(['bench', 'no-such-path'])
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /^unknown path "no-such-path"\n/)
  })
})
