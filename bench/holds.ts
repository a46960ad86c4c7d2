/**
 * Seat-hold race benchmark: the service runs as its own process on real PostgreSQL; ATTEMPTS admitted fans
 * (CLIENTS in flight at once) race to hold SEATS seats. Prints throughput, latency percentiles and the
 * correctness counts (winners, 409s, errors, double bookings).
 *
 *   npm run bench:holds                      # 10,000 attempts, 50 seats, 200 clients
 *   ATTEMPTS=20000 CLIENTS=400 npm run bench:holds
 */
import { parseArgs } from 'node:util'
import { sql } from 'kysely'
import { Pool } from 'undici'
import { openPostgres } from '../src/platform/db.ts'
import { seedAdmittedFans } from '../test/support/fans.ts'
import { percentile } from '../test/support/wait.ts'
import { postgresCpuSeconds, processCpuSeconds, startService } from './support/service.ts'

const { values } = parseArgs({
  options: {
    attempts: { type: 'string', default: process.env.ATTEMPTS ?? '10000' },
    seats: { type: 'string', default: process.env.SEATS ?? '50' },
    clients: { type: 'string', default: process.env.CLIENTS ?? '200' },
  },
})
const attempts = Number(values.attempts)
const seatCount = Number(values.seats)
const clients = Number(values.clients)

const service = await startService('holds', { DB_POOL_SIZE: process.env.DB_POOL_SIZE ?? '16', ROLES: 'api' })
const handle = openPostgres(service.databaseUrl, 4)
try {
  const adminHeaders = { 'x-admin-key': service.adminKey, 'content-type': 'application/json' }
  const concert: any = await (
    await fetch(`${service.url}/admin/concerts`, {
      method: 'POST',
      headers: adminHeaders,
      body: JSON.stringify({ title: 'Bench Night', artist: 'Load', venue: 'Loopback Arena' }),
    })
  ).json()
  const createRace = async (fanCount: number) => {
    const schedule: any = await (
      await fetch(`${service.url}/admin/concerts/${concert.id}/schedules`, {
        method: 'POST',
        headers: adminHeaders,
        body: JSON.stringify({
          startsAt: new Date(Date.now() + 86_400_000).toISOString(),
          saleOpensAt: new Date(Date.now() - 1000).toISOString(),
          seats: [{ grade: 'R', price: 100_000, count: seatCount }],
        }),
      })
    ).json()
    const seatList: any = await (await fetch(`${service.url}/schedules/${schedule.id}/seats`)).json()
    const fans = await seedAdmittedFans(handle.db, {
      count: fanCount,
      points: 0,
      secret: service.secret,
      scheduleId: schedule.id,
    })
    return { scheduleId: schedule.id as string, seats: seatList.seats as { id: string }[], fans }
  }
  // A warm-up race on its own schedule (JIT, connections, pools), then the measured race on a fresh one.
  const warmup = await createRace(Math.min(2000, attempts))
  const race = await createRace(attempts)
  const schedule = { id: race.scheduleId }

  const pool = new Pool(service.url, { connections: clients, pipelining: 1 })
  const hold = async (fanIndex: number, target = race) => {
    const fan = target.fans[fanIndex]!
    const seat = target.seats[fanIndex % target.seats.length]!
    const started = performance.now()
    const res = await pool.request({
      method: 'POST',
      path: `/schedules/${target.scheduleId}/seats/${seat.id}/hold`,
      headers: { authorization: `Bearer ${fan.token}`, 'x-queue-token': fan.queueToken },
    })
    const body = (await res.body.json()) as { code?: string }
    return { status: res.statusCode, code: body.code, ms: performance.now() - started }
  }

  let warm = 0
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = warm++; i < warmup.fans.length; i = warm++) await hold(i, warmup)
    }),
  )

  const latencies: number[] = []
  const counts = { winners: 0, conflicts: 0, limit: 0, errors: 0 }
  const errorSamples: string[] = []
  let next = 0
  const cpuBefore = {
    service: processCpuSeconds(service.process.pid!),
    postgres: postgresCpuSeconds(),
    client: process.cpuUsage(),
  }
  const began = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < attempts; i = next++) {
        try {
          const r = await hold(i)
          latencies.push(r.ms)
          if (r.status === 201) counts.winners++
          else if (r.status === 409 && r.code === 'SEAT_ALREADY_HELD') counts.conflicts++
          else if (r.status === 409 && r.code === 'HOLD_LIMIT_REACHED') counts.limit++
          else {
            counts.errors++
            if (errorSamples.length < 5) errorSamples.push(`${r.status} ${r.code}`)
          }
        } catch (error) {
          counts.errors++
          if (errorSamples.length < 5) errorSamples.push(String(error))
        }
      }
    }),
  )
  const seconds = (performance.now() - began) / 1000
  const clientCpu = process.cpuUsage(cpuBefore.client)
  const cpuSeconds = {
    service: Number((processCpuSeconds(service.process.pid!) - cpuBefore.service).toFixed(2)),
    postgres: Number((postgresCpuSeconds() - cpuBefore.postgres).toFixed(2)),
    loadGenerator: Number(((clientCpu.user + clientCpu.system) / 1e6).toFixed(2)),
  }
  await pool.close()

  const doubles = await sql<{ n: number }>`
    select count(*)::int as n from (
      select seat_id from reservations
      where schedule_id = ${schedule.id} and status in ('held', 'confirmed')
      group by seat_id having count(*) > 1) d`.execute(handle.db)
  const heldSeats = await sql<{ n: number }>`
    select count(*)::int as n from seats where schedule_id = ${schedule.id} and status = 'held'`.execute(
    handle.db,
  )
  latencies.sort((a, b) => a - b)
  const report = {
    attempts,
    seats: seatCount,
    clients,
    seconds: Number(seconds.toFixed(2)),
    attemptsPerSecond: Math.round(attempts / seconds),
    latencyMs: {
      p50: Number(percentile(latencies, 50).toFixed(2)),
      p95: Number(percentile(latencies, 95).toFixed(2)),
      p99: Number(percentile(latencies, 99).toFixed(2)),
      max: Number((latencies.at(-1) ?? 0).toFixed(2)),
    },
    winners: counts.winners,
    conflicts409: counts.conflicts,
    holdLimit409: counts.limit,
    errors: counts.errors,
    heldSeats: heldSeats.rows[0]!.n,
    cpuSecondsDuringRace: cpuSeconds,
    doubleBookings: doubles.rows[0]!.n,
    ...(errorSamples.length ? { errorSamples } : {}),
  }
  console.log(JSON.stringify(report, null, 2))
  const ok = report.doubleBookings === 0 && report.errors === 0 && report.winners === report.heldSeats
  console.log(ok ? 'CORRECT: no double booking, no error' : 'INCORRECT: see counts above')
  process.exitCode = ok ? 0 : 1
} finally {
  await handle.close()
  await service.stop()
}
