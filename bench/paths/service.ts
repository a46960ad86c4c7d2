import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import { MAX_SEATS_PER_GRADE } from '../../src/catalog/catalog-admin-routes.ts'
import { openPostgres } from '../../src/platform/db.ts'
import { seedAdmittedFans } from '../../test/support/fans.ts'
import type { GoalVerdict } from '../support/goals.ts'
import { helloWorld, type Limit } from '../support/limits.ts'
import { drive, type LoadResult, medianRun } from '../support/load.ts'
import { cpuMeter, perOp, type RunningService, startService, withoutWait } from '../support/service.ts'

/** One row of the report. */
export interface PathResult {
  path: string
  transport: string
  /** What the service did per second, and its unit. */
  service: number
  unit: string
  latencyMs: { p50: number; p99: number }
  /** The name of the limit it is compared with (filled by the suite). */
  limitName: string
  /**
   * That limit measured right before this path's own measured run, when the path measures it itself (the race and
   * the position reads): the suite then compares the row with this one instead of the one before the paths.
   */
  limitJustBefore?: Limit
  correct: boolean
  counts: Record<string, unknown>
  /** CPU ms per operation by process (`serviceMsPerOp`, …), and `serviceLoopWaitMsPerOp` (see cpuMeter). */
  cpuSeconds?: Record<string, number>
  background?: Record<string, unknown>
  /** Where a short run's p99 comes from (the race). */
  waves?: LoadResult['waves']
  /** Each run of a path measured more than once (the race, free-seat holds, payments); the row is the median run. */
  races?: (Pick<LoadResult, 'perSecond' | 'latencyMs' | 'waves'> & {
    /** The run's course by window, when it lasted more than one (a long sale; see windowsOf). */
    windows?: LoadResult['windows']
    limitPerSecond?: number
    youngCollections?: YoungCollections
  })[]
  /** Issue #7's verdicts on the row (filled by the suite; none in a smoke run). */
  goals?: GoalVerdict[]
}

/**
 * The hello world on 100 kept connections, measured now (a smoke run measures none). The race and the position
 * reads are compared with it right before each of their runs: these machines change speed within a minute, and the
 * service and the generator with them (a position read cost both 0.05 ms of CPU in one run, 0.08-0.10 in the next,
 * and so did a hello-world answer), so a limit measured minutes earlier can be from another machine.
 */
async function helloJustBefore(o: ServiceOptions, what: string): Promise<Limit | undefined> {
  if (o.smoke) return undefined
  o.say(`limit: Fastify hello world, 100 connections, 3 s, right before ${what}`)
  const r = await helloWorld({ connections: 100, durationMs: 3_000 })
  return {
    perSecond: r.perSecond,
    ...r.latencyMs,
    what: `Fastify hello world, 100 connections, 3 s right before ${what} (req/s)`,
    cpuMsPerOp: r.cpuMsPerOp,
  }
}

export interface ServiceOptions {
  smoke: boolean
  transport: 'local' | 'kafka'
  connections: number
  /** The fans of each free-seat holds and payments run (5,000; more makes a sale longer than the side effects wait). */
  fans: number
  say: (line: string) => void
}

const env = (o: ServiceOptions, extra: Record<string, string> = {}) => ({
  ...(o.transport === 'kafka' ? { KAFKA_BROKERS: process.env.KAFKA_BROKERS! } : {}),
  ...extra,
})

/** An organizer's POST that must answer 201; its body's id. */
async function adminPost(s: RunningService, path: string, body: unknown): Promise<{ id: string }> {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'x-admin-key': s.adminKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (res.status !== 201) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as { id: string }
}

/** A concert and one schedule on sale now, with `seats` seats. */
async function createSale(
  s: RunningService,
  seats: number,
): Promise<{ scheduleId: string; seatIds: string[] }> {
  const post = (path: string, body: unknown) => adminPost(s, path, body)
  const concert = await post('/admin/concerts', {
    title: 'Bench Night',
    artist: 'Load',
    venue: 'Loopback Arena',
  })
  const schedule = await post(`/admin/concerts/${concert.id}/schedules`, {
    startsAt: new Date(Date.now() + 86_400_000).toISOString(),
    saleOpensAt: new Date(Date.now() - 1000).toISOString(),
    // A schedule's grade holds at most MAX_SEATS_PER_GRADE seats: a larger sale is several grades at one price.
    seats: Array.from({ length: Math.ceil(seats / MAX_SEATS_PER_GRADE) }, (_, g) => ({
      grade: g === 0 ? 'R' : `R${g + 1}`,
      price: 1_000,
      count: Math.min(MAX_SEATS_PER_GRADE, seats - g * MAX_SEATS_PER_GRADE),
    })),
  })
  const list = (await (await fetch(`${s.url}/schedules/${schedule.id}/seats`)).json()) as {
    seats: { id: string }[]
  }
  return { scheduleId: schedule.id, seatIds: list.seats.map((x) => x.id) }
}

/** A new sale of `seats` seats and `fans` fans already admitted to it, each with `points`. */
async function saleWithFans(
  s: RunningService,
  db: ReturnType<typeof openPostgres>,
  seats: number,
  fans: number,
  points: number,
) {
  const sale = await createSale(s, seats)
  const seeded = await seedAdmittedFans(db.db, {
    count: fans,
    points,
    secret: s.secret,
    scheduleId: sale.scheduleId,
  })
  // Each fan then reads their place once, as an admitted fan does to get the queue token they hold and pay with:
  // the fans are seeded straight into the database, but their token is the service's, and their access token has
  // been seen by it before, as a fan's has who waited in its line.
  const places = await drive(s.url, {
    connections: 50,
    count: seeded.length,
    keepBodies: true,
    request: (i) => ({
      method: 'GET',
      path: `/schedules/${sale.scheduleId}/queue/me`,
      headers: { authorization: `Bearer ${seeded[i]!.token}` },
    }),
  })
  const tokens = (places.bodies as ({ token?: string } | undefined)[]).map((b) => b?.token)
  const missing = tokens.filter((t) => t === undefined).length
  if (missing > 0)
    throw new Error(`${missing} seeded fans read no queue token: ${JSON.stringify(places.outcomes)}`)
  return { ...sale, fans: seeded.map((f, i) => ({ ...f, queueToken: tokens[i]! })) }
}

const holdRequest = (scheduleId: string, seatId: string, fan: { token: string; queueToken: string }) =>
  ({
    method: 'POST',
    path: `/schedules/${scheduleId}/seats/${seatId}/hold`,
    headers: { authorization: `Bearer ${fan.token}`, 'x-queue-token': fan.queueToken },
  }) as const

/** A fan paying a hold (an unknown one when the hold failed: the answer is then a 404, counted as wrong). */
const payRequest = (reservationId: string | undefined, fan: { token: string; queueToken: string }) =>
  ({
    method: 'POST',
    path: `/reservations/${reservationId ?? uuidv7()}/payment`,
    headers: {
      authorization: `Bearer ${fan.token}`,
      'x-queue-token': fan.queueToken,
      'idempotency-key': uuidv7(),
    },
    body: '{}',
  }) as const

interface Race {
  result: LoadResult
  hello: Limit | undefined
  youngCollections: YoungCollections
  correct: boolean
  counts: { winners: number; lost409: number; doubleBookings: number; outcomes: Record<string, number> }
}

function summarize(r: LoadResult) {
  return { p50: r.latencyMs.p50, p99: r.latencyMs.p99 }
}

/** The attempts of one seat race (a smoke run's: a tenth). */
export const RACE_ATTEMPTS = 10_000

/** The seat race: every admitted fan tries once for one of a few seats; the losers should cost almost nothing. */
export async function holdsRace(o: ServiceOptions): Promise<PathResult> {
  const attempts = o.smoke ? RACE_ATTEMPTS / 10 : RACE_ATTEMPTS
  const seatCount = 50
  const s = await startService('holds_race', env(o), o.say)
  const db = openPostgres(s.databaseUrl, 4)
  try {
    const race = (fans: number) => saleWithFans(s, db, seatCount, fans, 0)
    o.say(
      `holds-race: warm-up race and a second of attempts, then ${o.smoke ? 'one race' : 'three races'} of ${attempts} attempts on ${seatCount} seats`,
    )
    const warm = await race(Math.min(2_000, attempts))
    await drive(s.url, {
      connections: o.connections,
      count: warm.fans.length,
      request: (i) => holdRequest(warm.scheduleId, warm.seatIds[i % seatCount]!, warm.fans[i]!),
    })
    // Then a second of attempts on the seats just taken, as the hello world is warmed for a second before it is
    // measured: both are compared with their JavaScript compiled, not while V8 still compiles it (measured on a
    // cold route: 0.12 ms of service CPU per attempt, warm 0.06-0.08).
    await drive(s.url, {
      connections: o.connections,
      durationMs: o.smoke ? 200 : 1_000,
      request: (i) =>
        holdRequest(warm.scheduleId, warm.seatIds[i % seatCount]!, warm.fans[i % warm.fans.length]!),
    })
    // A race of 10,000 attempts lasts about a second, and single races on these shared machines moved from 20 to
    // 58 % of the limit: three are run, each on a new sale and right after a hello world of its own, and the row is
    // the race of the median ratio, every race printed.
    const runs = o.smoke ? 1 : 3
    const races: Race[] = []
    const cpuSeconds: Record<string, number> = {}
    for (let n = 0; n < runs; n++) {
      const real = await race(attempts)
      const hello = await helloJustBefore(o, `race ${n + 1}`)
      const gc = youngCollectionsIn(await metricsOf(s))
      const cpu = cpuMeter(s)
      const result = await drive(s.url, {
        connections: o.connections,
        count: attempts,
        request: (i) => holdRequest(real.scheduleId, real.seatIds[i % seatCount]!, real.fans[i]!),
      })
      for (const [k, v] of Object.entries(cpu())) cpuSeconds[k] = (cpuSeconds[k] ?? 0) + v
      const youngCollections = youngCollectionsSince(gc, youngCollectionsIn(await metricsOf(s)))
      const doubles = await sql<{ n: number }>`
        select count(*)::int as n from (select seat_id from reservations
          where schedule_id = ${real.scheduleId} and status in ('held', 'confirmed') group by seat_id having count(*) > 1) d`.execute(
        db.db,
      )
      const winners = result.outcomes['201'] ?? 0
      const lost = result.outcomes['409 SEAT_ALREADY_HELD'] ?? 0
      races.push({
        result,
        hello,
        youngCollections,
        correct: winners === seatCount && lost === attempts - seatCount && doubles.rows[0]!.n === 0,
        counts: { winners, lost409: lost, doubleBookings: doubles.rows[0]!.n, outcomes: result.outcomes },
      })
    }
    // The median by ratio to each race's own hello world (by attempts per second when none was measured).
    const median = medianRun(
      races.map((r) => ({ ...r, perSecond: r.result.perSecond / (r.hello?.perSecond ?? 1) })),
    )!
    return {
      path: 'holds-race',
      transport: o.transport,
      service: median.result.perSecond,
      unit: 'attempts/s',
      latencyMs: summarize(median.result),
      limitName: 'hello',
      ...(median.hello ? { limitJustBefore: median.hello } : {}),
      correct: races.every((r) => r.correct),
      counts: {
        attempts,
        ...median.counts,
        // Every race's own counts: the row is correct only when each race was.
        races: races.map((r) => r.counts),
      },
      // A race is short: its p99 is the first wave when that wave's 200 answers are the slowest.
      waves: median.result.waves,
      races: races.map((r) => ({
        perSecond: r.result.perSecond,
        latencyMs: r.result.latencyMs,
        waves: r.result.waves,
        ...(r.hello ? { limitPerSecond: r.hello.perSecond } : {}),
        youngCollections: r.youngCollections,
      })),
      cpuSeconds: perOp(cpuSeconds, attempts * runs),
    }
  } finally {
    await db.close()
    await s.stop()
  }
}

/**
 * Holds on distinct free seats and the background work they left (the relay and every consumer group, in the same
 * process as the API) until it is drained, then the payments of every hold and theirs. 500 other fans hold and pay
 * first, so both routes are measured warm, as the hello world and the race are.
 */
export async function holdsAndPayments(o: ServiceOptions): Promise<PathResult[]> {
  const fans = o.smoke ? 300 : o.fans
  const s = await startService('payments', env(o), o.say)
  const db = openPostgres(s.databaseUrl, 4)
  try {
    o.say(`holds-free: ${fans} fans hold ${fans} free seats`)
    const warm = await saleWithFans(s, db, 500, 500, 10_000)
    const warmFans = warm.fans
    const warmHolds = await drive(s.url, {
      connections: o.connections,
      count: 500,
      keepBodies: true,
      request: (i) => holdRequest(warm.scheduleId, warm.seatIds[i]!, warmFans[i]!),
    })
    await drive(s.url, {
      connections: o.connections,
      count: 500,
      request: (i) => payRequest((warmHolds.bodies as { id: string }[])[i]?.id, warmFans[i]!),
    })
    // Single runs of either path moved by half within an hour on these shared machines: each is run three times,
    // each on a new sale with new fans, and its row is its median run, every run printed.
    const rounds: Measured[][] = []
    for (let n = 0; n < (o.smoke ? 1 : 3); n++) rounds.push(await holdsAndPaymentsRound(o, s, db, fans, n))
    const medianOf = (runs: Measured[]): PathResult => {
      const { row } = medianRun(runs.map((r) => ({ ...r, perSecond: r.load.perSecond })))!
      return {
        ...row,
        correct: runs.every((r) => r.row.correct),
        // every run's own counts: the row is correct only when each run was
        counts: { ...row.counts, runs: runs.map((r) => r.row.counts) },
        ...(runs.length > 1
          ? {
              races: runs.map(({ load: l, youngCollections }) => ({
                perSecond: l.perSecond,
                latencyMs: l.latencyMs,
                waves: l.waves,
                ...(l.windows.length > 1 ? { windows: l.windows } : {}),
                youngCollections,
              })),
            }
          : {}),
      }
    }
    return [0, 1].map((path) => medianOf(rounds.map((round) => round[path]!)))
  } finally {
    await db.close()
    await s.stop()
  }
}

/** A path's row from one run, with the load that gave it. */
interface Measured {
  row: PathResult
  youngCollections: YoungCollections
  load: LoadResult
}

/** One sale: its holds on free seats, drained, then the payment of every hold, drained: [holds, payments]. */
async function holdsAndPaymentsRound(
  o: ServiceOptions,
  s: RunningService,
  db: ReturnType<typeof openPostgres>,
  fans: number,
  round: number,
): Promise<Measured[]> {
  if (round > 0) o.say(`holds-free and payments: run ${round + 1}, ${fans} new fans on a new sale`)
  const sale = await saleWithFans(s, db, fans, fans, 10_000)
  const seeded = sale.fans
  await drain(s, 'after seeding')
  let gc = youngCollectionsIn(await metricsOf(s))
  let cpu = cpuMeter(s)
  const holds = await drive(s.url, {
    connections: o.connections,
    count: fans,
    keepBodies: true,
    request: (i) => holdRequest(sale.scheduleId, sale.seatIds[i]!, seeded[i]!),
  })
  const holdCpu = cpu()
  const holdsGc = youngCollectionsSince(gc, youngCollectionsIn(await metricsOf(s)))
  const held = holds.bodies as { id: string }[]
  // The holds' own background work (their events' consumers) is theirs: drained and counted here, not in the
  // payments that follow.
  const holdsDrain = await drainCounted(s, 'after holds', fans)
  const holdsResult: PathResult = {
    path: 'holds-free',
    transport: o.transport,
    service: holds.perSecond,
    unit: 'holds/s',
    latencyMs: summarize(holds),
    limitName: 'pgbench-payment',
    correct: (holds.outcomes['201'] ?? 0) === fans,
    counts: { holds: fans, outcomes: holds.outcomes },
    cpuSeconds: perOp(holdCpu, fans),
    background: {
      drainedSecondsAfterLastHold: holdsDrain.seconds,
      cpuMsPerHoldWhileDraining: holdsDrain.cpuMsPerOp,
    },
  }
  o.say(`payments: ${fans} fans pay their hold`)
  const metricsBefore = await metricsOf(s)
  const before = handlerSecondsIn(metricsBefore)
  gc = youngCollectionsIn(metricsBefore)
  cpu = cpuMeter(s)
  const pays = await drive(s.url, {
    connections: o.connections,
    count: fans,
    request: (i) => payRequest(held[i]?.id, seeded[i]!),
  })
  const payCpu = cpu()
  const paysGc = youngCollectionsSince(gc, youngCollectionsIn(await metricsOf(s)))
  const paymentsDrain = await drainCounted(s, 'after payments', fans)
  const after = handlerSecondsIn(await metricsOf(s))
  const sold = await sql<{ n: number; ledger: number }>`
      select (select count(*)::int from seats where schedule_id = ${sale.scheduleId} and status = 'sold') as n,
             (select count(*)::int from wallet_ledger l
               join payments p on l.reference = 'payment:' || p.id
               join reservations r on r.id = p.reservation_id
              where l.kind = 'payment' and l.amount = -1000 and r.schedule_id = ${sale.scheduleId}) as ledger`.execute(
    db.db,
  )
  const paid = pays.outcomes['201'] ?? 0
  // Wall time in the handler per event (named so): it includes waiting for the event's batch and for the
  // database, so it is no CPU figure; the CPU of the drain is cpuMsPerPaymentWhileDraining.
  const perGroup: Record<string, { events: number; wallMsInHandlerPerEvent: number }> = {}
  for (const [group, now] of Object.entries(after)) {
    const events = now.events - (before[group]?.events ?? 0)
    const seconds = now.seconds - (before[group]?.seconds ?? 0)
    if (events > 0)
      perGroup[group] = { events, wallMsInHandlerPerEvent: Number(((seconds * 1000) / events).toFixed(2)) }
  }
  return [
    { row: holdsResult, load: holds, youngCollections: holdsGc },
    {
      load: pays,
      youngCollections: paysGc,
      row: {
        path: 'payments',
        transport: o.transport,
        service: pays.perSecond,
        unit: 'payments/s',
        latencyMs: summarize(pays),
        limitName: 'pgbench-payment',
        correct: paid === fans && sold.rows[0]!.n === fans && sold.rows[0]!.ledger === fans,
        counts: {
          payments: fans,
          outcomes: pays.outcomes,
          soldSeats: sold.rows[0]!.n,
          ledgerLines: sold.rows[0]!.ledger,
        },
        cpuSeconds: perOp(payCpu, fans),
        background: {
          drainedSecondsAfterLastPayment: paymentsDrain.seconds,
          cpuMsPerPaymentWhileDraining: paymentsDrain.cpuMsPerOp,
          byGroup: perGroup,
        },
      },
    },
  ]
}

/** The service's own metrics, as Prometheus text. */
async function metricsOf(s: RunningService): Promise<string> {
  return (await fetch(`${s.url}/metrics`)).text()
}

/** Per consumer group so far, from the service's metrics: events handled and seconds in their handlers. */
function handlerSecondsIn(text: string): Record<string, { seconds: number; events: number }> {
  const out: Record<string, { seconds: number; events: number }> = {}
  for (const m of text.matchAll(
    /^event_handler_duration_seconds_(sum|count)\{group="([^"]+)",topic="[^"]+"\} ([\d.e+-]+)$/gm,
  )) {
    out[m[2]!] ??= { seconds: 0, events: 0 }
    const group = out[m[2]!]!
    if (m[1] === 'sum') group.seconds += Number(m[3])
    else group.events += Number(m[3])
  }
  return out
}

/** The service's young collections (scavenges) during a measured run: how many, and their pauses' mean and sum. */
export interface YoungCollections {
  count: number
  msEach: number
  ms: number
}

/**
 * The young collections counted so far in a service's metrics (`nodejs_gc_duration_seconds`, kind "minor"; 0 where
 * the series is not there yet; until 2026-12-07 prom-client's, which counted only the first of each delivery). Each
 * stops every request in flight: on a slow machine they are where a sale's p99 comes from.
 */
export function youngCollectionsIn(text: string): { count: number; seconds: number } {
  const read = (part: 'count' | 'sum') =>
    Number(
      new RegExp(`^nodejs_gc_duration_seconds_${part}\\{kind="minor"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0,
    )
  return { count: read('count'), seconds: read('sum') }
}

function youngCollectionsSince(
  before: { count: number; seconds: number },
  after: { count: number; seconds: number },
): YoungCollections {
  const count = after.count - before.count
  const ms = (after.seconds - before.seconds) * 1000
  return { count, msEach: count > 0 ? Number((ms / count).toFixed(1)) : 0, ms: Number(ms.toFixed(1)) }
}

/**
 * Waits until the outbox is empty and no consumer group lags (but hold expiration, whose records wait for their
 * deadlines by design).
 */
async function drain(s: RunningService, what: string) {
  const started = Date.now()
  for (;;) {
    const asked = Date.now()
    const summary = (await (
      await fetch(`${s.url}/admin/ops/summary`, { headers: { 'x-admin-key': s.adminKey } })
    ).json()) as { outbox: { backlog: number }; lag: { group: string; lag: number }[]; lagReadAt: string }
    const lag = summary.lag.filter((l) => l.group !== 'hold-expiration').reduce((n, l) => n + l.lag, 0)
    // The summary shares one lag reading a second between its callers (the ops series samples it too): a reading
    // taken before this question can predate the work being drained, and said 0 while a coupon rush's 500 requests
    // were still undecided (a smoke run in CI). Only a reading asked for after the question counts.
    if (summary.outbox.backlog === 0 && lag === 0 && Date.parse(summary.lagReadAt) >= asked) return
    if (Date.now() - started > 600_000) throw new Error(`not drained ${what} in 10 min`)
    await sleep(100)
  }
}

/**
 * `drain`, timed and metered: the seconds until drained and the CPU per operation meanwhile, `ops` being the
 * operations whose background work it was.
 */
async function drainCounted(s: RunningService, what: string, ops: number) {
  const started = performance.now()
  const cpu = cpuMeter(s)
  await drain(s, what)
  const seconds = Number(((performance.now() - started) / 1000).toFixed(2))
  return { seconds, cpuMsPerOp: withoutWait(perOp(cpu(), ops)) }
}

/** Fans joining the waiting room (the sale is open), each once; then their places read back from memory. */
export async function queuePaths(o: ServiceOptions): Promise<PathResult[]> {
  const fans = o.smoke ? 500 : 10_000
  const readMs = o.smoke ? 2_000 : 10_000
  // Admission paused (one fan a minute) so the line stands still while it is read.
  const s = await startService(
    'queue',
    env(o, { QUEUE_ADMIT_PER_SECOND: '0.01', QUEUE_MAX_ACTIVE: '1' }),
    o.say,
  )
  const db = openPostgres(s.databaseUrl, 4)
  try {
    const sale = await createSale(s, 10)
    // Open the sale (the first admission round draws and opens it), then users who have not entered yet.
    await sleep(1500)
    const users = await seedAdmittedFans(db.db, {
      count: fans + 500,
      points: 0,
      secret: s.secret,
      scheduleId: sale.scheduleId,
      admit: false,
    })
    const enter = (i: number) =>
      ({
        method: 'POST',
        path: `/schedules/${sale.scheduleId}/queue`,
        headers: { authorization: `Bearer ${users[i]!.token}` },
      }) as const
    o.say(`queue-entries: ${fans} fans enter the waiting room`)
    await drive(s.url, { connections: o.connections, count: 500, request: (i) => enter(fans + i) })
    let cpu = cpuMeter(s)
    const entries = await drive(s.url, {
      connections: o.connections,
      count: fans,
      keepBodies: true,
      request: enter,
    })
    const enterCpu = cpu()
    // The entries' background work (their events' consumers) is theirs: drained and counted here, so the reads that
    // follow are measured on their own, as the payments are after the holds' backlog.
    const entriesDrain = await drainCounted(s, 'after queue entries', fans)
    const tickets = (entries.bodies as { ticket?: string; position: number | null }[]).map(
      (b) => b?.ticket ?? '',
    )
    const seqs = await sql<{ n: number; distinct: number }>`
      select count(*)::int as n, count(distinct seq)::int as distinct from queue_entries where schedule_id = ${sale.scheduleId}`.execute(
      db.db,
    )
    const hello = await helloJustBefore(o, 'the position reads')
    o.say(`position-reads: ${readMs / 1000} s of waiting fans reading their place`)
    cpu = cpuMeter(s)
    let wrong = 0
    const reads = await drive(s.url, {
      connections: o.connections,
      durationMs: readMs,
      request: (i) => {
        const k = i % fans
        return {
          method: 'GET',
          path: `/schedules/${sale.scheduleId}/queue/me`,
          headers: { authorization: `Bearer ${users[k]!.token}`, 'x-queue-ticket': tickets[k]! },
        }
      },
    })
    const readCpu = cpu()
    if (Object.keys(reads.outcomes).some((k) => k !== '200')) wrong++
    return [
      {
        path: 'queue-entries',
        transport: o.transport,
        service: entries.perSecond,
        unit: 'entries/s',
        latencyMs: summarize(entries),
        limitName: 'pgbench-payment',
        correct: (entries.outcomes['201'] ?? 0) === fans && seqs.rows[0]!.distinct === seqs.rows[0]!.n,
        counts: { entries: fans, outcomes: entries.outcomes, distinctPlaces: seqs.rows[0]!.distinct },
        cpuSeconds: perOp(enterCpu, fans),
        background: {
          drainedSecondsAfterLastEntry: entriesDrain.seconds,
          cpuMsPerEntryWhileDraining: entriesDrain.cpuMsPerOp,
        },
      },
      {
        path: 'position-reads',
        transport: o.transport,
        service: reads.perSecond,
        unit: 'reads/s',
        latencyMs: summarize(reads),
        limitName: 'hello',
        ...(hello ? { limitJustBefore: hello } : {}),
        correct: wrong === 0 && reads.requests > 0,
        counts: { reads: reads.requests, outcomes: reads.outcomes },
        cpuSeconds: perOp(readCpu, reads.requests),
      },
    ]
  } finally {
    await db.close()
    await s.stop()
  }
}

/**
 * A first-come coupon rush: every fan asks once for a coupon of 100; answered at once, decided in arrival order by
 * a consumer. Correct when every request was answered 202, exactly the stock was issued and the rest rejected.
 */
export async function couponRequests(o: ServiceOptions): Promise<PathResult> {
  const fans = o.smoke ? 500 : 10_000
  const stock = 100
  const s = await startService('coupons', env(o), o.say)
  const db = openPostgres(s.databaseUrl, 4)
  try {
    const newCoupon = async () =>
      (
        await adminPost(s, '/admin/coupons', {
          name: `rush ${uuidv7()}`,
          totalQuantity: stock,
          discountType: 'fixed',
          discountValue: 100,
        })
      ).id
    const sale = await createSale(s, 1)
    const users = await seedAdmittedFans(db.db, {
      count: fans + 500,
      points: 0,
      secret: s.secret,
      scheduleId: sale.scheduleId,
      admit: false,
    })
    const ask = (couponId: string, i: number) =>
      ({
        method: 'POST',
        path: `/coupons/${couponId}/requests`,
        headers: { authorization: `Bearer ${users[i]!.token}` },
      }) as const
    o.say(`coupon-requests: ${fans} fans ask for a coupon of ${stock}`)
    const warm = await newCoupon()
    await drive(s.url, { connections: o.connections, count: 500, request: (i) => ask(warm, fans + i) })
    const couponId = await newCoupon()
    const cpu = cpuMeter(s)
    const result = await drive(s.url, {
      connections: o.connections,
      count: fans,
      request: (i) => ask(couponId, i),
    })
    const cpuSeconds = cpu()
    // The decisions and their notifications are the requests' background work: timed and counted until drained.
    const decisionsDrain = await drainCounted(s, 'after coupon requests', fans)
    const decided = await sql<{ issued: number; rejected: number; pending: number }>`
      select count(*) filter (where status = 'issued')::int as issued,
             count(*) filter (where status = 'rejected')::int as rejected,
             count(*) filter (where status = 'pending')::int as pending
      from coupon_requests where coupon_id = ${couponId}`.execute(db.db)
    const d = decided.rows[0]!
    return {
      path: 'coupon-requests',
      transport: o.transport,
      service: result.perSecond,
      unit: 'requests/s',
      latencyMs: summarize(result),
      limitName: 'pgbench-payment',
      correct:
        (result.outcomes['202'] ?? 0) === fans &&
        d.issued === stock &&
        d.rejected === fans - stock &&
        d.pending === 0,
      counts: { requests: fans, outcomes: result.outcomes, ...d },
      cpuSeconds: perOp(cpuSeconds, fans),
      background: {
        drainedSecondsAfterLastRequest: decisionsDrain.seconds,
        cpuMsPerRequestWhileDraining: decisionsDrain.cpuMsPerOp,
      },
    }
  } finally {
    await db.close()
    await s.stop()
  }
}

/** Holds taken in one burst with a short TTL: how late after its own deadline each is released. */
export async function expiry(o: ServiceOptions): Promise<PathResult> {
  const holds = o.smoke ? 200 : 1_000
  const ttl = 8
  const s = await startService('expiry', env(o, { HOLD_TTL_SECONDS: String(ttl) }), o.say)
  const db = openPostgres(s.databaseUrl, 4)
  try {
    const sale = await saleWithFans(s, db, holds, holds, 0)
    const fans = sale.fans
    o.say(`expiry: ${holds} holds taken in one burst, released ${ttl} s later`)
    const taken = await drive(s.url, {
      connections: o.connections,
      count: holds,
      request: (i) => holdRequest(sale.scheduleId, sale.seatIds[i]!, fans[i]!),
    })
    const started = Date.now()
    for (;;) {
      const left = await sql<{ n: number }>`
        select count(*)::int as n from reservations where schedule_id = ${sale.scheduleId} and status = 'held'`.execute(
        db.db,
      )
      if (left.rows[0]!.n === 0) break
      if (Date.now() - started > 120_000) break
      await sleep(100)
    }
    const late = await sql<{ ms: number }>`
      select extract(epoch from (ended_at - expires_at)) * 1000 as ms from reservations
       where schedule_id = ${sale.scheduleId} and status = 'expired' order by 1`.execute(db.db)
    const ms = late.rows.map((r) => Number(r.ms)).sort((a, b) => a - b)
    const at = (p: number) =>
      Number((ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))] ?? Number.NaN).toFixed(1))
    const spread = await sql<{ ms: number }>`
      select extract(epoch from (max(expires_at) - min(expires_at))) * 1000 as ms from reservations
       where schedule_id = ${sale.scheduleId}`.execute(db.db)
    return {
      path: 'expiry-lateness',
      transport: o.transport,
      service: Number.NaN,
      unit: 'ms late',
      latencyMs: { p50: at(50), p99: at(99) },
      limitName: 'goal',
      correct: (taken.outcomes['201'] ?? 0) === holds && ms.length === holds && ms[0]! >= 0,
      counts: {
        holds,
        released: ms.length,
        deadlineSpreadMs: Math.round(Number(spread.rows[0]!.ms)),
        max: ms.at(-1),
      },
    }
  } finally {
    await db.close()
    await s.stop()
  }
}
