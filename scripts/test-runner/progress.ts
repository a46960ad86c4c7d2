import { relative } from 'node:path'
import type { TestEvent } from 'node:test/reporters'
import { inspect } from 'node:util'

export interface Totals {
  files: number
  tests: number
  passed: number
  failed: number
  cancelled: number
  skipped: number
  todo: number
}

type Counts = Omit<Totals, 'files'>

interface FileState {
  started: number
  /** Skipped tests and suites seen. */
  skipped: number
  /** How long its process ran, known when the file-level test completes. */
  durationMs: number | undefined
  /** The file's summary; a file that dies before it can report one has none. */
  counts: Counts | undefined
  /** Names of the tests enclosing the current one, by nesting level. */
  path: string[]
  failures: string[]
  cancelled: string[]
  diagnostics: string[]
  /** What the tests printed to stdout (figures, for one): shown under the file, the first STDOUT_SHOWN lines. */
  stdout: string[]
  /** stdout and stderr together, shown (the last OUTPUT_TAIL lines) when the file failed. */
  output: string[]
}

const OUTPUT_TAIL = 40
const STDOUT_SHOWN = 20

/**
 * Turns node:test's event stream into one line per finished file (`[3/33] test/api/holds.test.ts  ✔ 23  ✖ 0  ↷ 0
 * 12.3 s`), each failure in full under its file, the tests' own diagnostics, and totals with the skip reasons. On a
 * terminal a live line says which files are running and for how long.
 */
export class Progress {
  readonly totals: Totals = emptyTotals()
  /** Skip and todo reasons over the whole run, with how many tests gave each. */
  readonly skipReasons = new Map<string, number>()
  /** How long each finished file ran (ms), by path. */
  readonly durations = new Map<string, number>()
  private readonly running = new Map<string, FileState>()
  private readonly finished = new Set<string>()
  /** Why the runner ended a file's process (no test event for too long), said again under the file's failure. */
  private readonly endedBecause = new Map<string, string>()
  private done = 0
  private readonly count: number
  private readonly root: string
  private readonly out: NodeJS.WriteStream
  private readonly width: number
  private readonly color: boolean
  private readonly live: NodeJS.Timeout | undefined

  constructor(files: readonly string[], root: string, out: NodeJS.WriteStream = process.stdout) {
    this.count = files.length
    this.root = root
    this.out = out
    this.width = Math.max(...files.map((f) => f.length))
    this.color = out.isTTY === true && !process.env.NO_COLOR
    if (this.color) this.live = setInterval(() => this.showRunning(), 1000).unref()
  }

  handle(event: TestEvent): void {
    // A file already finished (its process ended for silence, say) stays finished: it was once counted twice.
    if (event.type === 'test:dequeue' && isFileLevel(event.data) && !this.finished.has(event.data.file!)) {
      this.running.set(event.data.file!, emptyFile())
      return
    }
    const file = (event.data as { file?: string } | undefined)?.file
    if (!file || this.finished.has(file)) return
    let f = this.running.get(file)
    if (!f) {
      f = emptyFile()
      this.running.set(file, f)
    }
    switch (event.type) {
      case 'test:start':
        f.path.length = event.data.nesting
        f.path.push(event.data.name)
        break
      case 'test:pass': {
        // The file itself is reported only when none of its tests was: it has none, or they were filtered out.
        if (isFileLevel(event.data)) {
          this.finishFile(file, f, undefined)
          break
        }
        const { skip, todo } = event.data
        // A skipped suite is one skip here; node's summary does not count it at all (its tests never registered).
        if (skip !== undefined) {
          f.skipped++
          this.countReason(typeof skip === 'string' ? skip : 'skipped without a reason')
        }
        if (todo !== undefined)
          this.countReason(`todo: ${typeof todo === 'string' ? todo : nameOf(f, event.data)}`)
        break
      }
      case 'test:fail':
        // The file itself fails alone when it died before (or while) running its tests.
        if (isFileLevel(event.data)) this.finishFile(file, f, event.data.details.error)
        else this.recordFailure(f, event.data)
        break
      case 'test:diagnostic':
        f.diagnostics.push(event.data.message)
        break
      case 'test:stdout':
      case 'test:stderr': {
        const lines = event.data.message.split('\n').filter(Boolean)
        if (event.type === 'test:stdout') f.stdout.push(...lines)
        f.output.push(...lines)
        if (f.output.length > OUTPUT_TAIL * 4) f.output.splice(0, f.output.length - OUTPUT_TAIL)
        break
      }
      case 'test:summary':
        // counts.failed exists at run time, though @types/node does not declare it.
        f.counts = { failed: 0, ...event.data.counts }
        this.finishFile(file, f, undefined)
        break
      case 'test:complete':
        // Comes as soon as the process ends; the file's own events may follow (node reports files in order).
        if (isFileLevel(event.data)) f.durationMs = event.data.details.duration_ms
        break
    }
  }

  /** Records why the runner ended the process of a file, to be shown with the file's failure. */
  ended(file: string, reason: string): void {
    this.endedBecause.set(file, reason)
  }

  /** Reports files that never finished (the run was stopped), and stops the live line. */
  close(): void {
    for (const [file, f] of this.running) this.finishFile(file, f, new Error('stopped before it finished'))
    if (this.live) clearInterval(this.live)
    this.clearLive()
  }

  private countReason(reason: string): void {
    this.skipReasons.set(reason, (this.skipReasons.get(reason) ?? 0) + 1)
  }

  private recordFailure(f: FileState, data: Extract<TestEvent, { type: 'test:fail' }>['data']): void {
    const error = data.details.error as Error & { failureType?: string; cause?: unknown }
    if (error.failureType === 'subtestsFailed') return // its failing subtests speak for it
    const name = nameOf(f, data)
    if (error.failureType === 'cancelledByParent') {
      f.cancelled.push(name)
      return
    }
    const where =
      data.file && data.line ? `  (${relative(this.root, data.file)}:${data.line}:${data.column})` : ''
    const shown = error.failureType === 'testCodeFailure' && error.cause !== undefined ? error.cause : error
    const detail = inspect(shown, { colors: this.color, depth: 6 })
    f.failures.push(`${this.paint('31', `✖ ${name}`)}${where}\n${indent(detail, 4)}`)
  }

  /** A file is done with its summary, or with its own failure when it died before it could give one. */
  private finishFile(file: string, f: FileState, error: Error | undefined): void {
    this.clearLive()
    this.running.delete(file)
    this.finished.add(file)
    this.done++
    const ms = f.durationMs ?? Date.now() - f.started
    this.durations.set(file, ms)
    const seconds = ms / 1000
    const name = relative(this.root, file)
    const counts = f.counts ?? emptyTotals()
    if (error && counts.failed + counts.cancelled === 0 && f.failures.length === 0)
      f.failures.push(
        `${this.paint('31', `✖ ${name} did not run to its end`)} (${this.endedBecause.get(file) ?? error.message})`,
      )
    // Failures this file reported that node's counts miss (a failing hook, the file itself) count too.
    const failed = Math.max(counts.failed, f.failures.length)
    const tests = counts.tests + (failed - counts.failed) + (f.skipped - counts.skipped)
    add(this.totals, { ...counts, tests, failed, skipped: f.skipped, files: 1 })
    const { passed } = counts
    const skipped = f.skipped + counts.todo
    const line =
      `[${String(this.done).padStart(String(this.count).length)}/${this.count}] ${name.padEnd(this.width)}  ` +
      `${this.paint('32', `✔ ${pad(passed)}`)}  ${this.paint(failed ? '31' : '0', `✖ ${pad(failed)}`)}  ` +
      `${this.paint(skipped ? '33' : '0', `↷ ${pad(skipped)}`)}  ${seconds.toFixed(1).padStart(5)} s`
    const lines = [line, ...f.diagnostics.map((d) => `      ℹ ${d}`)]
    if (f.failures.length === 0) {
      lines.push(...f.stdout.slice(0, STDOUT_SHOWN).map((l) => `      ${l}`))
      if (f.stdout.length > STDOUT_SHOWN)
        lines.push(`      (${f.stdout.length - STDOUT_SHOWN} more lines in the report)`)
    }
    lines.push(...f.failures.map((x) => indent(x, 6)))
    if (f.cancelled.length > 0) lines.push(`      ${f.cancelled.length} cancelled: ${f.cancelled.join('; ')}`)
    if (f.failures.length > 0 && f.output.length > 0)
      lines.push(
        `      output of ${name} (last ${Math.min(OUTPUT_TAIL, f.output.length)} lines):`,
        ...f.output.slice(-OUTPUT_TAIL).map((l) => `        ${l}`),
      )
    this.out.write(`${lines.join('\n')}\n`)
  }

  private showRunning(): void {
    const now = Date.now()
    const running = [...this.running]
      .filter(([, f]) => f.durationMs === undefined)
      .map(([file, f]) => `${relative(this.root, file)} ${Math.round((now - f.started) / 1000)} s`)
      .join(', ')
    this.out.write(`\r\x1b[2K  … ${this.done}/${this.count} done; running ${running}`)
  }

  private clearLive(): void {
    if (this.color) this.out.write('\r\x1b[2K')
  }

  private paint(code: string, text: string): string {
    return this.color && code !== '0' ? `\x1b[${code}m${text}\x1b[0m` : text
  }
}

const isFileLevel = (data: { name: string; file?: string | undefined; nesting: number }) =>
  data.nesting === 0 && data.file !== undefined && data.name === data.file

const nameOf = (f: FileState, data: { name: string; nesting: number }) =>
  [...f.path.slice(0, data.nesting), data.name].join(' › ')

const pad = (n: number) => String(n).padEnd(3)

function emptyTotals(): Totals {
  return { files: 0, tests: 0, passed: 0, failed: 0, cancelled: 0, skipped: 0, todo: 0 }
}

function emptyFile(): FileState {
  return {
    started: Date.now(),
    skipped: 0,
    durationMs: undefined,
    counts: undefined,
    path: [],
    failures: [],
    cancelled: [],
    diagnostics: [],
    stdout: [],
    output: [],
  }
}

function add(into: Totals, from: Partial<Totals>): void {
  for (const key of Object.keys(into) as (keyof Totals)[]) into[key] += from[key] ?? 0
}

function indent(text: string, spaces: number): string {
  return text.replace(/^/gm, ' '.repeat(spaces))
}
