import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client'

export interface Metrics {
  readonly registry: Registry
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>
  /** Calls per group-committed transaction of a hot routine (1 when it went alone): how busy its database path is. */
  readonly groupCommitSize: Histogram<'routine'>
  /** Calls done by a batch's pass together: the rest of the batched calls went one by one, which is slower. */
  readonly groupCommitTogether: Counter<'routine'>
}

/** One registry per service instance, so tests can build many apps in one process. */
export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const groupCommitSize = new Histogram({
    name: 'db_group_commit_calls',
    help: 'Calls per transaction of a group-committed routine (1 when the call went alone)',
    labelNames: ['routine'],
    buckets: [1, 2, 4, 8, 16, 32],
    registers: [registry],
  })
  const groupCommitTogether = new Counter({
    name: 'db_group_commit_together_total',
    help: 'Calls of a group-committed routine done by its batch pass together (the rest of db_group_commit_calls_sum went one by one)',
    labelNames: ['routine'],
    registers: [registry],
  })
  return { registry, httpDuration, groupCommitSize, groupCommitTogether }
}
