/**
 * Issue #7's goals per path: a throughput ratio to the limit measured in the same run, a p99, or both. The suite
 * prints whether each was met; nothing fails on it (speed is reported, never asserted), and a smoke run, which
 * measures no limit, judges none.
 */
const goalsByPath: Readonly<Record<string, { minRatio?: number; maxP99Ms?: number; p99Of?: string }>> = {
  'holds-race': { minRatio: 0.5, maxP99Ms: 50 },
  'holds-free': { minRatio: 0.5, maxP99Ms: 100 },
  payments: { minRatio: 0.5, maxP99Ms: 100 },
  'queue-entries': { minRatio: 0.5 },
  'position-reads': { minRatio: 0.5 },
  // Every consumer group: 20,000 events/s (its limit is that goal, so the ratio is 100 %), commit to handler.
  consumers: { minRatio: 1, maxP99Ms: 100, p99Of: 'commit→handler ' },
  'expiry-lateness': { maxP99Ms: 250, p99Of: 'lateness ' },
}

export interface GoalVerdict {
  /** The goal as the table prints it, e.g. `≥ 50 %` or `p99 ≤ 100 ms`. */
  goal: string
  met: boolean
}

/**
 * The verdicts on a path's goals, from its throughput, its limit's (when one was measured) and its p99. A goal that
 * cannot be judged (no limit, no throughput, no p99) is left out rather than called met or not.
 */
export function judgeGoals(
  path: string,
  measured: { service: number; limitPerSecond?: number | undefined; p99Ms: number },
): GoalVerdict[] {
  const goals = goalsByPath[path]
  if (!goals) return []
  const verdicts: GoalVerdict[] = []
  const { service, limitPerSecond, p99Ms } = measured
  if (goals.minRatio !== undefined && limitPerSecond && limitPerSecond > 0 && Number.isFinite(service))
    verdicts.push({
      goal: `≥ ${Math.round(goals.minRatio * 100)} %`,
      met: service / limitPerSecond >= goals.minRatio,
    })
  if (goals.maxP99Ms !== undefined && Number.isFinite(p99Ms))
    verdicts.push({ goal: `${goals.p99Of ?? ''}p99 ≤ ${goals.maxP99Ms} ms`, met: p99Ms <= goals.maxP99Ms })
  return verdicts
}

/** The verdicts as one table cell: `≥ 50 % yes, p99 ≤ 100 ms NO`, or `–` when the path has none. */
export function goalsCell(verdicts: readonly GoalVerdict[]): string {
  if (verdicts.length === 0) return '–'
  return verdicts.map((v) => `${v.goal} ${v.met ? 'yes' : 'NO'}`).join(', ')
}
