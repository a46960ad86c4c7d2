import { execFile } from 'node:child_process'
import { onPath } from '../../scripts/test-runner/preflight.ts'

/**
 * Prometheus' own rule checker and evaluator, and its server: Debian's `prometheus` package has both (PROMTOOL and
 * PROMETHEUS override). npm test's preflight names them when they are missing.
 */
export const PROMTOOL = process.env.PROMTOOL ?? 'promtool'
export const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus'

/** Why the alert rules' tests cannot run here, or false. On CI a missing one is an error, not a skip. */
export const noPromtool: string | false =
  onPath(PROMTOOL) && onPath(PROMETHEUS) ? false : `no ${PROMTOOL} and ${PROMETHEUS} on the PATH`
if (noPromtool && process.env.CI)
  throw new Error(
    `promtool or prometheus not found: .ci/run installs Debian's prometheus package, which has both`,
  )

/** promtool's exit code and what it printed. */
export function promtool(args: readonly string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, output: `${stdout}${stderr}` })
    })
  })
}
