import { Pool } from 'undici'
import { percentile } from '../../test/support/wait.ts'

export interface LoadRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  path: string
  headers?: Record<string, string>
  body?: string
}

export interface LoadResult {
  requests: number
  seconds: number
  perSecond: number
  latencyMs: { p50: number; p99: number; max: number }
  /** `<status> <code>` → count, e.g. `409 SEAT_ALREADY_HELD`. */
  outcomes: Record<string, number>
  /** Bodies of the 2xx answers, in request order (when asked). */
  bodies: unknown[]
  /**
   * The latency of the first request each connection sent (the first wave, which also opens the connections), and
   * the p99 of every later request: where a short run's p99 comes from.
   */
  waves: { firstWaveMaxMs: number; laterP99Ms: number }
  /** The answers of each WINDOW_SECONDS of the run by when they came (a long sale's course; see windowsOf). */
  windows: RunWindow[]
}

/** The answers that came in one window of a run: how many a second, and their p99. */
export interface RunWindow {
  fromSecond: number
  perSecond: number
  p99Ms: number
}

/** The length of a run's windows: a sale of 5,000 fans is one, one of 100,000 about six. */
export const WINDOW_SECONDS = 10

/**
 * The answers by the window of the run they came in (`answeredAt`, ms since the run began), with their latencies:
 * where in a long sale its throughput fell or its p99 rose. A last window shorter than half a window joins the one
 * before it, so that its rate is not a few stragglers' over a moment.
 */
export function windowsOf(
  answeredAt: readonly (number | undefined)[],
  latencyMs: readonly (number | undefined)[],
  runMs: number,
  windowSeconds = WINDOW_SECONDS,
): RunWindow[] {
  const width = windowSeconds * 1000
  const count = Math.max(1, Math.floor(runMs / width) + (runMs % width >= width / 2 ? 1 : 0))
  const buckets: number[][] = Array.from({ length: count }, () => [])
  answeredAt.forEach((at, i) => {
    const latency = latencyMs[i]
    if (at === undefined || latency === undefined) return
    buckets[Math.min(count - 1, Math.floor(at / width))]!.push(latency)
  })
  return buckets.map((b, k) => {
    const seconds = (k === count - 1 ? Math.max(runMs - k * width, 1) : width) / 1000
    return {
      fromSecond: k * windowSeconds,
      perSecond: Math.round(b.length / seconds),
      p99Ms: b.length > 0 ? Number(percentile(b, 99).toFixed(1)) : 0,
    }
  })
}

/**
 * The load generator every path and the hello-world limit share: `connections` keep-alive connections, each sending
 * its next request as soon as the last answered, until `count` requests were sent (or `durationMs` passed).
 */
export async function drive(
  url: string,
  options: {
    connections: number
    request: (i: number) => LoadRequest
    count?: number
    durationMs?: number
    keepBodies?: boolean
  },
): Promise<LoadResult> {
  const pool = new Pool(url, { connections: options.connections, pipelining: 1 })
  // Each answered request's latency, by request number (a failed one leaves a hole): the first `connections` are
  // the first wave.
  const byRequest: number[] = []
  // When each was answered, in ms since the run began (for windowsOf).
  const answeredAt: number[] = []
  const outcomes: Record<string, number> = {}
  const bodies: unknown[] = []
  let next = 0
  const began = performance.now()
  const until = options.durationMs ? began + options.durationMs : Number.POSITIVE_INFINITY
  const count = options.count ?? Number.POSITIVE_INFINITY
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        for (let i = next++; i < count && performance.now() < until; i = next++) {
          const r = options.request(i)
          const started = performance.now()
          try {
            const res = await pool.request({
              method: r.method,
              path: r.path,
              headers: { ...(r.body ? { 'content-type': 'application/json' } : {}), ...r.headers },
              ...(r.body ? { body: r.body } : {}),
            })
            const text = await res.body.text()
            const now = performance.now()
            byRequest[i] = now - started
            answeredAt[i] = now - began
            let code = ''
            if (res.statusCode >= 400) {
              try {
                code = (JSON.parse(text) as { code?: string }).code ?? ''
              } catch {
                code = 'not-json'
              }
            } else if (options.keepBodies) {
              bodies[i] = JSON.parse(text)
            }
            const key = `${res.statusCode}${code ? ` ${code}` : ''}`
            outcomes[key] = (outcomes[key] ?? 0) + 1
          } catch (error) {
            outcomes[`error ${(error as Error).message}`] =
              (outcomes[`error ${(error as Error).message}`] ?? 0) + 1
          }
        }
      }),
    )
  } finally {
    await pool.close()
  }
  const runMs = performance.now() - began
  const seconds = runMs / 1000
  const answered = (from: number, to?: number) => byRequest.slice(from, to).filter((x) => x !== undefined)
  const latencies = answered(0).sort((a, b) => a - b)
  const firstWave = answered(0, options.connections)
  const round = (n: number) => Number(n.toFixed(1))
  return {
    requests: latencies.length,
    seconds: Number(seconds.toFixed(2)),
    perSecond: Math.round(latencies.length / seconds),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies.at(-1) ?? 0),
    },
    outcomes,
    bodies,
    waves: {
      firstWaveMaxMs: round(firstWave.length > 0 ? Math.max(...firstWave) : 0),
      laterP99Ms: round(percentile(answered(options.connections), 99)),
    },
    windows: windowsOf(answeredAt, byRequest, runMs),
  }
}

/** The run of the middle throughput among several of the same shape: the one a report shows for all of them. */
export function medianRun<T extends { perSecond: number }>(runs: readonly T[]): T | undefined {
  return [...runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(runs.length / 2)]
}
