// Starting the service (`node src/main.ts`, its own process) as a deploy does, and what goes wrong there. Before its
// PostgreSQL server or its Kafka brokers answer (a container starting beside them), it waits and says so, then
// serves; what will never do (a wrong database name, nothing within DB_WAIT_SECONDS or KAFKA_WAIT_SECONDS, a port
// another process holds, an embedded data folder another service uses) ends the start with one fatal line, exit
// code 1 and no stack trace.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Db } from '../../src/platform/db.ts'
import { deleteKafkaPrefix } from '../side-effects/support/harness.ts'
import { Api } from '../support/api-client.ts'
import { createTestDatabase, POSTGRES_ADMIN_URL } from '../support/databases.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import {
  balanceOf,
  buy,
  charge,
  createSchedule,
  enterQueue,
  inbox,
  myTicket,
  seatStatus,
  signUp,
} from '../support/flows.ts'
import { unusedPort } from '../support/sockets.ts'
import { transportTargets } from '../support/transports.ts'
import { waitFor } from '../support/wait.ts'

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname

interface Started {
  child: ChildProcess
  /** Every log line so far, parsed. */
  lines: { level: number; msg: string; address?: string }[]
  exited: Promise<number | null>
  /** Resolves with the first line that matches (rejects when the process exits first). */
  line(
    match: (l: { level: number; msg: string }) => boolean,
  ): Promise<{ level: number; msg: string; address?: string }>
  stderr(): string
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      ROLES: 'api',
      SEED_DEMO: 'false',
      LOG_LEVEL: 'info',
      ADMIN_KEY: randomBytes(16).toString('hex'),
      AUTH_SECRET: randomBytes(32).toString('hex'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const lines: Started['lines'] = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text))
    } catch {
      lines.push({ level: 0, msg: text })
    }
    for (const w of waiters) w()
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    line: (match) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match)
          if (found) {
            waiters.delete(check)
            resolve(found)
          }
        }
        waiters.add(check)
        check()
        void exited.then(() => {
          check()
          if (waiters.has(check)) {
            waiters.delete(check)
            reject(
              new Error(
                `the service exited first; its log:\n${lines.map((l) => l.msg).join('\n')}\n${stderr}`,
              ),
            )
          }
        })
      }),
  }
}

/** A fresh database on the PostgreSQL server (migrated: the service finds nothing to do), dropped after the file. */
async function freshDatabase(): Promise<string> {
  return (await freshDatabaseWithHandle()).name
}

async function freshDatabaseWithHandle(): Promise<{ name: string; url: string; db: Db }> {
  const database = await createTestDatabase('postgres', 'startup', 1)
  after(() => database.close())
  return { name: new URL(database.url!).pathname.slice(1), url: database.url!, db: database.db }
}

/** Starts forwarding `port` to `target` (host:port): from now on, the server at that port answers. */
async function forward(port: number, target: string): Promise<Server> {
  const [host, targetPort] = target.split(':') as [string, string]
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => sockets.delete(s))
    }
    client.pipe(upstream).pipe(client)
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  after(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return server
}

const postgresServer = () => {
  const url = new URL(POSTGRES_ADMIN_URL)
  return `${url.hostname}:${url.port || 5432}`
}

describe('service start against PostgreSQL', () => {
  test('a server that answers only later is waited for, with a warning per try, then the service serves', async () => {
    const name = await freshDatabase()
    const port = await unusedPort()
    const service = start({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/${name}`,
      DB_WAIT_SECONDS: '60',
    })
    const waiting = await service.line((l) => l.msg.includes('does not answer yet'))
    assert.equal(waiting.level, 40, 'a warning')
    assert.match(
      waiting.msg,
      new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port}/${name} does not answer yet: .*ECONNREFUSED`),
    )
    assert.doesNotMatch(waiting.msg, /postgres@/, 'no user or password in the message')

    await forward(port, postgresServer())
    const listening = await service.line((l) => l.msg === 'ticketing service listening')
    const ready = await fetch(`${listening.address}/ready`)
    assert.equal(ready.status, 200)
    assert.ok(
      service.lines.filter((l) => l.msg.includes('does not answer yet')).length >= 1,
      'it said what it waited for',
    )
    service.child.kill('SIGTERM')
    assert.equal(await service.exited, 0)
  })

  test('no server within DB_WAIT_SECONDS: one fatal line naming the server and the limit, exit 1', async () => {
    const port = await unusedPort()
    const service = start({
      DATABASE_URL: `postgres://app:hunter2@127.0.0.1:${port}/tickets`,
      DB_WAIT_SECONDS: '1',
    })
    assert.equal(await service.exited, 1)
    const last = service.lines.at(-1)!
    assert.equal(last.level, 60, `a fatal line last: ${JSON.stringify(service.lines)}`)
    assert.match(
      last.msg,
      new RegExp(
        `^PostgreSQL at 127\\.0\\.0\\.1:${port}/tickets did not answer within 1 s \\(DB_WAIT_SECONDS\\)`,
      ),
    )
    const everything = JSON.stringify(service.lines) + service.stderr()
    assert.doesNotMatch(everything, /hunter2/, 'the password is never logged')
    assert.doesNotMatch(service.stderr(), /\n\s+at /, 'no stack trace')
  })

  test('a database that does not exist ends the start at once, without waiting', async () => {
    const target = new URL(POSTGRES_ADMIN_URL)
    target.pathname = '/no_such_database_here'
    const began = Date.now()
    const service = start({ DATABASE_URL: target.toString(), DB_WAIT_SECONDS: '60' })
    assert.equal(await service.exited, 1)
    assert.ok(Date.now() - began < 30_000, 'it did not wait the 60 s for something waiting cannot fix')
    const last = service.lines.at(-1)!
    assert.equal(last.level, 60)
    assert.match(last.msg, /refused the service: 3D000 database "no_such_database_here" does not exist/)
    assert.equal(service.lines.filter((l) => l.msg.includes('does not answer yet')).length, 0, 'no retries')
    assert.doesNotMatch(service.stderr(), /\n\s+at /, 'no stack trace')
  })
})

describe('service start: its HTTP port', () => {
  test('a port another process holds ends the start with one fatal line saying so, exit 1', async () => {
    const taken = createServer().listen(0, '127.0.0.1')
    await once(taken, 'listening')
    after(() => taken.close())
    const { port } = taken.address() as { port: number }
    const database = await freshDatabase()
    const service = start({
      DATABASE_URL: `${POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, '')}/${database}`,
      PORT: String(port),
    })
    assert.equal(await service.exited, 1)
    const last = service.lines.at(-1)!
    assert.equal(last.level, 60)
    assert.equal(
      last.msg,
      `cannot listen on 127.0.0.1:${port}: another process already listens there (set PORT to a free port)`,
    )
    assert.doesNotMatch(service.stderr(), /\n\s+at /, 'no stack trace')
  })
})

describe('service start on PGlite: one process per data folder', () => {
  test('a second service on the same DATA_DIR refuses, naming the first; once the first is killed, the folder is taken over', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-data-'))
    after(() => rmSync(dataDir, { recursive: true, force: true }))
    const embedded = { DATA_DIR: dataDir, ROLES: 'api,relay,workers' }
    const first = start(embedded)
    const listening = await first.line((l) => l.msg === 'ticketing service listening')

    const second = start(embedded)
    assert.equal(await second.exited, 1)
    assert.equal(second.lines.at(-1)!.level, 60)
    assert.equal(
      second.lines.at(-1)!.msg,
      `DATA_DIR ${dataDir} is in use by process ${first.child.pid} (another npm start?): stop it, or give this one its own DATA_DIR`,
    )
    assert.equal((await fetch(`${listening.address}/ready`)).status, 200, 'the first one still serves')

    // Killed without its shutdown, the first leaves its lock behind: a process that is gone holds nothing.
    first.child.kill('SIGKILL')
    await first.exited
    const third = start(embedded)
    const again = await third.line((l) => l.msg === 'ticketing service listening')
    assert.equal((await fetch(`${again.address}/ready`)).status, 200)
    third.child.kill('SIGTERM')
    assert.equal(await third.exited, 0)
    assert.ok(!existsSync(join(dataDir, 'pglite.lock')), 'a clean stop releases the folder')
  })
  test('a payment answered before a SIGKILL is there after the restart, and its notification follows, once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-data-'))
    after(() => rmSync(dataDir, { recursive: true, force: true }))
    // The same keys across the restart, as a deploy keeps them: the fan's tokens stay valid.
    const env = {
      DATA_DIR: dataDir,
      ROLES: 'api,relay,workers',
      AUTH_SECRET: randomBytes(32).toString('hex'),
      ADMIN_KEY: randomBytes(16).toString('hex'),
    }
    const first = start(env)
    let api = new Api((await first.line((l) => l.msg === 'ticketing service listening')).address!)
    const show = await createSchedule(api, env.ADMIN_KEY, { seats: 2, price: 100_000 })
    const fan = await signUp(api)
    await charge(api, fan, 500_000)
    assert.equal((await enterQueue(api, fan, show.scheduleId)).status, 201)
    const queueToken = await waitFor(
      'the fan admitted',
      async () => (await myTicket(api, fan, show.scheduleId)).body.token,
    )
    const { reservationId } = await buy(api, { ...fan, queueToken }, show.scheduleId, show.seatIds[0]!)
    // Killed right after the answer: no shutdown, no flush, side effects maybe not yet relayed.
    first.child.kill('SIGKILL')
    await first.exited

    const second = start(env)
    api = new Api((await second.line((l) => l.msg === 'ticketing service listening')).address!)
    assert.equal(await seatStatus(api, show.scheduleId, show.seatIds[0]!), 'sold')
    assert.equal(await balanceOf(api, fan), 400_000)
    const confirmed = await waitFor('the payment-confirmed notification', async () => {
      const found = (await inbox(api, fan)).filter((n) => n.kind === 'payment-confirmed')
      return found.length > 0 && found
    })
    await sleep(1_000) // a second delivery, were there one, would land by now
    const again = (await inbox(api, fan)).filter((n) => n.kind === 'payment-confirmed')
    assert.equal(again.length, 1, JSON.stringify(again))
    assert.equal(confirmed[0].data.amount, 100_000)
    assert.equal(confirmed[0].data.seatLabel, show.seats[0]!.label)
    assert.equal(
      (await api.get(`/reservations/${reservationId}`, { token: fan.token })).body.status,
      'confirmed',
    )
    second.child.kill('SIGTERM')
    assert.equal(await second.exited, 0)
  })
  test('four services started at once on one new DATA_DIR: exactly one takes it, the others name it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-data-'))
    after(() => rmSync(dataDir, { recursive: true, force: true }))
    const services = Array.from({ length: 4 }, () => start({ DATA_DIR: dataDir }))
    const outcomes = await Promise.all(
      services.map((s) =>
        Promise.race([
          s.line((l) => l.msg === 'ticketing service listening').then(() => 'serving'),
          s.exited.then((code) => `exited ${code}: ${s.lines.at(-1)?.msg}`),
        ]),
      ),
    )
    const serving = services.filter((_, i) => outcomes[i] === 'serving')
    assert.equal(serving.length, 1, outcomes.join('\n'))
    for (const outcome of outcomes.filter((o) => o !== 'serving')) {
      assert.match(
        outcome,
        new RegExp(`^exited 1: DATA_DIR ${dataDir} is in use by process ${serving[0]!.child.pid} `),
      )
    }
    serving[0]!.child.kill('SIGTERM')
    assert.equal(await serving[0]!.exited, 0)
  })
})

describe('service start against Kafka', () => {
  // Defined only where Kafka is one of the transports the run tests (TEST_TRANSPORTS).
  for (const kafka of transportTargets(['kafka']))
    test('brokers that answer only later are waited for, then the service serves; none in KAFKA_WAIT_SECONDS ends the start', {
      skip: kafka.skip,
    }, async () => {
      if (kafka.fail) assert.fail(kafka.fail)
      const database = await freshDatabase()
      const env = {
        DATABASE_URL: `${POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, '')}/${database}`,
        KAFKA_TOPIC_PREFIX: `startup-${randomBytes(4).toString('hex')}`,
      }
      // No broker within the limit: one fatal line, exit 1 (an instance that relays or consumes needs Kafka).
      const closed = await unusedPort()
      const gaveUp = start({
        ...env,
        ROLES: 'api,relay',
        KAFKA_BROKERS: `127.0.0.1:${closed}`,
        KAFKA_WAIT_SECONDS: '1',
      })
      assert.equal(await gaveUp.exited, 1)
      assert.equal(gaveUp.lines.at(-1)!.level, 60)
      assert.match(
        gaveUp.lines.at(-1)!.msg,
        new RegExp(
          `^Kafka at 127\\.0\\.0\\.1:${closed} did not answer within 1 s \\(KAFKA_WAIT_SECONDS\\): .*ECONNREFUSED`,
        ),
      )
      assert.doesNotMatch(gaveUp.stderr(), /\n\s+at /, 'no stack trace')

      // The bootstrap address refuses, then forwards to a real broker (which names the cluster's own addresses).
      const port = await unusedPort()
      const service = start({
        ...env,
        ROLES: 'api,relay',
        KAFKA_BROKERS: `127.0.0.1:${port}`,
        KAFKA_WAIT_SECONDS: '120',
      })
      const waiting = await service.line((l) => l.msg.includes('does not answer yet'))
      assert.equal(waiting.level, 40)
      assert.match(
        waiting.msg,
        new RegExp(`^Kafka at 127\\.0\\.0\\.1:${port} does not answer yet: .*ECONNREFUSED`),
      )
      await forward(port, kafka.brokers[0]!)
      const listening = await service.line((l) => l.msg === 'ticketing service listening')
      assert.equal((await fetch(`${listening.address}/ready`)).status, 200)
      service.child.kill('SIGTERM')
      assert.equal(await service.exited, 0)
      await deleteKafkaPrefix(kafka.brokers, env.KAFKA_TOPIC_PREFIX)
    })
})

/** Where brokers would be: a server that takes connections, counts them and answers nothing. */
async function silentServer(): Promise<{ port: number; connections: () => number }> {
  let connections = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  after(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return { port: (server.address() as AddressInfo).port, connections: () => connections }
}

describe('service start with Kafka away', () => {
  test('brokers that take connections and never answer: KAFKA_WAIT_SECONDS still ends the start', async () => {
    const database = await freshDatabase()
    const silent = await silentServer()
    const started = Date.now()
    const service = start({
      DATABASE_URL: `${POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, '')}/${database}`,
      ROLES: 'api,relay',
      KAFKA_BROKERS: `127.0.0.1:${silent.port}`,
      KAFKA_WAIT_SECONDS: '1',
    })
    assert.equal(await service.exited, 1)
    assert.ok(silent.connections() > 0, 'it did try the brokers')
    assert.equal(service.lines.at(-1)!.level, 60)
    assert.match(
      service.lines.at(-1)!.msg,
      new RegExp(
        `^Kafka at 127\\.0\\.0\\.1:${silent.port} did not answer within 1 s \\(KAFKA_WAIT_SECONDS\\): a connection was taken but nothing answered within 10 s$`,
      ),
    )
    // not the client's own timeouts and retries, which took minutes
    console.log(`[figure] a silent broker address ended the start after ${Date.now() - started} ms`)
  })

  test('an instance that only serves the API needs no broker: it starts, fans buy, the console says the lag is unknown, it stops in time', async () => {
    const database = await freshDatabaseWithHandle()
    const silent = await silentServer()
    const secret = randomBytes(32).toString('hex')
    const adminKey = randomBytes(16).toString('hex')
    const service = start({
      DATABASE_URL: database.url,
      ROLES: 'api',
      KAFKA_BROKERS: `127.0.0.1:${silent.port}`,
      KAFKA_WAIT_SECONDS: '1',
      AUTH_SECRET: secret,
      ADMIN_KEY: adminKey,
    })
    // Before the change it waited on the silent address: fail in seconds, not at the test's timeout.
    const listening = await Promise.race([
      service.line((l) => l.msg === 'ticketing service listening'),
      sleep(30_000, undefined, { ref: false }).then(() => assert.fail('not listening within 30 s')),
    ])
    const api = new Api(listening.address!)
    const show = await createSchedule(api, adminKey, { seats: 1 })
    const [fan] = await seedAdmittedFans(database.db, {
      count: 1,
      points: 1_000_000,
      secret,
      scheduleId: show.scheduleId,
    })
    const { reservationId, receipt } = await buy(api, fan!, show.scheduleId, show.seats[0]!.id)
    assert.equal(receipt.reservationId, reservationId)
    const kept = await database.db
      .selectFrom('outbox')
      .select('topic')
      .where('key', '=', reservationId)
      .where('topic', '=', 'reservation.confirmed')
      .execute()
    assert.equal(kept.length, 1, 'the confirmation waits in the outbox for a relay')

    // The console's summary still answers, from the database, and says why the lag is missing.
    const summary = await api.get('/admin/ops/summary', { headers: { 'x-admin-key': adminKey } })
    assert.equal(summary.status, 200)
    const outboxRows = await database.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow()
    assert.equal(
      summary.body.outbox.backlog,
      Number(outboxRows.n),
      'every event of the sale waits in the outbox',
    )
    assert.deepEqual(summary.body.lag, [])
    assert.match(summary.body.lagUnavailable, /^kafka: no answer within 3000 ms$/)
    assert.ok(silent.connections() > 0, 'the lag was asked of the brokers')
    // Prometheus is told the lag is unknown, not shown none: no consumer_lag series, consumer_lag_unknown 1.
    const metrics = String((await api.get('/metrics')).body)
    assert.match(metrics, /^consumer_lag_unknown 1$/m)
    assert.doesNotMatch(metrics, /^consumer_lag\{/m)

    // A lag read hanging on the silent brokers does not hold the shutdown (25 s, then exit 1).
    const stopping = Date.now()
    service.child.kill('SIGTERM')
    assert.equal(await service.exited, 0)
    console.log(
      `[figure] api-only instance stopped ${Date.now() - stopping} ms after SIGTERM with the brokers silent`,
    )
    assert.ok(!service.lines.some((l) => l.level >= 50), 'no error logged')
  })
})
