// `--test-isolation=none`: the files share `processes` test processes (shared-process.ts), each taking the next file
// when it is done with one, so a process pays for loading the service and PGlite once. A process that dies takes
// only its current file down: that file fails, and a new process takes the rest. A process silent for `idleLimitMs`
// (its file's tests ended but something it left open holds its run, or a test ignored its timeout) is ended so.
import { type ChildProcess, fork } from 'node:child_process'
import type { TestEvent } from 'node:test/reporters'
import type { FileOrder } from './shared-process.ts'
import { endedForSilence, reportFlags, whatKeepsAlive } from './stuck-files.ts'
import { fromWire } from './wire.ts'

export interface SharedRun {
  processes: number
  timeout: number
  namePatterns: string[]
  skipPatterns: string[]
  signal: AbortSignal
  idleLimitMs: number
  /** Where a silent process writes the diagnostic report it is asked for. */
  reportDir: string
}

const CHILD = new URL('./shared-process.ts', import.meta.url)

/** Runs the files, handing each event to `onEvent` as it comes; resolves when every file has finished. */
export function runShared(files: readonly string[], options: SharedRun, onEvent: (event: TestEvent) => void) {
  const queue = [...files]
  const children = new Set<ChildProcess>()
  const execArgv = [...process.execArgv, ...reportFlags(options.reportDir)]
  return new Promise<void>((resolve) => {
    const settle = () => {
      if (children.size === 0) resolve()
    }
    const start = () => {
      const child = fork(CHILD, [], {
        execArgv,
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
      children.add(child)
      let file: string | undefined
      let ended: string | undefined
      const watch = setTimeout(async () => {
        const alive = await whatKeepsAlive(child.pid!, options.reportDir)
        ended = endedForSilence(options.idleLimitMs, alive)
        child.kill('SIGKILL')
      }, options.idleLimitMs)
      const next = () => {
        file = options.signal.aborted ? undefined : queue.shift()
        if (file === undefined) {
          child.disconnect()
          return
        }
        const order: FileOrder = {
          file,
          timeout: options.timeout,
          namePatterns: options.namePatterns,
          skipPatterns: options.skipPatterns,
        }
        child.send(order)
      }
      child.on('message', (message: { ready?: true; done?: string; event?: unknown }) => {
        watch.refresh()
        if (message.event) onEvent(fromWire(message.event) as TestEvent)
        else if (message.ready || message.done) next()
      })
      child.on('exit', (code, signal) => {
        clearTimeout(watch)
        children.delete(child)
        if (file !== undefined && !options.signal.aborted) {
          const error = new Error(
            ended ?? `its test process exited (${signal ?? `code ${code}`}) before the file finished`,
          )
          onEvent({
            type: 'test:fail',
            data: { name: file, file, nesting: 0, details: { duration_ms: 0, error } },
          } as unknown as TestEvent)
          if (queue.length > 0) start()
        }
        settle()
      })
    }
    const kill = () => {
      for (const child of children) child.kill('SIGTERM')
    }
    options.signal.addEventListener('abort', kill, { once: true })
    for (let i = 0; i < Math.min(options.processes, queue.length); i++) start()
    settle()
  })
}
