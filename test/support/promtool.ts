import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** Prometheus' own rule checker and evaluator: Debian's `prometheus` package has it (PROMTOOL overrides). */
export const PROMTOOL =
  process.env.PROMTOOL ??
  (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'promtool'))
    .find((path) => existsSync(path)) ??
  'promtool'

/** Why the alert rules' tests cannot run here, or false. On CI a missing promtool is an error, not a skip. */
export const noPromtool: string | false = existsSync(PROMTOOL)
  ? false
  : `no promtool on the PATH (${PROMTOOL})`
if (noPromtool && process.env.CI)
  throw new Error(`promtool not found: .ci/run installs Debian's prometheus package, which has it`)

/** promtool's exit code and what it printed. */
export function promtool(args: readonly string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, output: `${stdout}${stderr}` })
    })
  })
}
