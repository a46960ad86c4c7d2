import type { Registry } from 'prom-client'

/** Prometheus' own series (`up`) and the labels every scraped series gets from its target. */
const SCRAPE_SERIES = new Set(['up'])
const TARGET_LABELS = new Set(['job', 'instance'])
const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
])

/**
 * The series a PromQL expression reads, and what is wrong with them, against the service's registry: a metric it does not
 * register (a histogram's _bucket, _count and _sum count as the histogram), or a label named in a matcher or a
 * by/on clause that none of the expression's metrics has (`le` on histograms, `job` and `instance` from the target).
 */
export function seriesRead(
  expr: string,
  where: string,
  registry: Registry,
): { metrics: string[]; problems: string[] } {
  const problems: string[] = []
  const grouping: string[] = []
  const matched: { metric: string; label: string }[] = []
  const rest = expr
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, list: string) => {
      grouping.push(
        ...list
          .split(',')
          .map((l) => l.trim())
          .filter(Boolean),
      )
      return ' '
    })
    .replace(
      /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g,
      (_, metric: string | undefined, matchers: string) => {
        for (const m of matchers.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g))
          matched.push({ metric: metric ?? '', label: m[1]! })
        return ` ${metric ?? ''} `
      },
    )
    .replace(/\[[^\]]*\]/g, ' ')
  const metrics = [
    ...new Set([...rest.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)].map((m) => m[1]!)),
  ].filter((name) => !PROMQL_WORDS.has(name))
  const labelsOf = new Map<string, Set<string>>()
  for (const metric of metrics) {
    if (SCRAPE_SERIES.has(metric)) {
      labelsOf.set(metric, new Set(TARGET_LABELS))
      continue
    }
    const found = registered(metric, registry)
    if (!found) problems.push(`${where} reads ${metric}, which the service does not export`)
    else labelsOf.set(metric, new Set([...found, ...TARGET_LABELS]))
  }
  for (const { metric, label } of matched) {
    const labels = labelsOf.get(metric)
    if (labels && !labels.has(label))
      problems.push(`${where} names the label ${label}, which none of ${metric} has`)
  }
  for (const label of grouping) {
    if (labelsOf.size > 0 && ![...labelsOf.values()].some((labels) => labels.has(label)))
      problems.push(`${where} names the label ${label}, which none of ${[...labelsOf.keys()].join(', ')} has`)
  }
  return { metrics, problems }
}

/** The label names of a series name the registry exports, or undefined when it exports no such series. */
function registered(series: string, registry: Registry): string[] | undefined {
  const metric = registry.getSingleMetric(series) as { labelNames?: string[] } | undefined
  if (metric) return metric.labelNames ?? []
  const histogram = /^(.*)_(bucket|count|sum)$/.exec(series)
  const base = histogram && (registry.getSingleMetric(histogram[1]!) as { labelNames?: string[] } | undefined)
  if (!base || !('observe' in base)) return undefined
  return [...(base.labelNames ?? []), ...(histogram[2] === 'bucket' ? ['le'] : [])]
}

/**
 * The HTTP routes an expression selects by their `route` label (`route="…"`, or each alternative of `route=~"a|b"`),
 * for checking against the server's own routes: a renamed route leaves a selector that matches nothing.
 */
function routesSelected(expr: string): string[] {
  return [...expr.matchAll(/\broute\s*(=~|=)\s*"([^"]*)"/g)].flatMap((m) =>
    m[1] === '=~' ? m[2]!.split('|') : [m[2]!],
  )
}

/**
 * Every route the server serves, spelled as the HTTP histogram's `route` label spells it (`/reservations/:reservationId`):
 * from its OpenAPI document, which names each route's parameters as declared (Fastify's `hasRoute` ignores their names).
 */
function servedRoutes(http: { swagger(): unknown }): Set<string> {
  const { paths } = http.swagger() as { paths: Record<string, unknown> }
  return new Set(Object.keys(paths).map((path) => path.replace(/\{([^}]+)\}/g, ':$1')))
}

/**
 * Queries (an alert's or a panel's) against the running service: what each reads (`seriesRead`) and every route it
 * selects that the service does not serve, as problems; and the metrics each read, so a caller can tell that the
 * reader found its series at all (a parse that found none would pass anything).
 */
export function checkQueries(
  queries: readonly { where: string; expr: string }[],
  app: { metrics: { registry: Registry }; http: { swagger(): unknown } },
): { metrics: string[][]; routes: string[]; problems: string[] } {
  const served = servedRoutes(app.http)
  const reads = queries.map((q) => seriesRead(q.expr, q.where, app.metrics.registry))
  const routes = queries.flatMap((q) => routesSelected(q.expr).map((route) => ({ where: q.where, route })))
  return {
    metrics: reads.map((r) => r.metrics),
    routes: routes.map((r) => r.route),
    problems: [
      ...reads.flatMap((r) => r.problems),
      ...routes
        .filter((r) => !served.has(r.route))
        .map((r) => `${r.where} selects the route ${r.route}, which the service does not serve`),
    ],
  }
}
