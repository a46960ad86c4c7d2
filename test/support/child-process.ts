import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** A fixture program (test/<name>.ts, e.g. `events/fixtures/relay`) in a child process, speaking JSON lines on stdout. */
export interface Child {
  readonly pid: number
  readonly messages: Record<string, unknown>[]
  /** Resolves with the first message at or after index `from` (0: past ones too) that matches. */
  waitForMessage(
    match: (m: Record<string, unknown>) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<Record<string, unknown>>
  /** The last message of this kind, if any. */
  last(event: string): Record<string, unknown> | undefined
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGKILL: no shutdown code runs, in-flight transactions die with the connection. */
  kill(): Promise<void>
  /** SIGTERM: graceful shutdown; waits for the exit. */
  stop(): Promise<void>
  stderr(): string
}

export function spawnFixture(name: string, config: Record<string, unknown>): Child {
  const file = fileURLToPath(new URL(`../${name}.ts`, import.meta.url))
  const child: ChildProcess = spawn(process.execPath, [file], {
    env: { ...process.env, FIXTURE_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const messages: Record<string, unknown>[] = []
  const waiters = new Set<{ match: (m: Record<string, unknown>) => boolean; resolve: (m: any) => void }>()
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000)
    if (process.env.FIXTURE_STDERR) process.stderr.write(chunk)
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let message: Record<string, unknown>
    try {
      message = JSON.parse(line)
    } catch {
      return
    }
    messages.push(message)
    for (const w of waiters) {
      if (w.match(message)) {
        waiters.delete(w)
        w.resolve(message)
      }
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let done = false
  void exited.then(() => {
    done = true
  })
  return {
    pid: child.pid!,
    messages,
    exited,
    stderr: () => stderr,
    last: (event) => messages.findLast((m) => m.event === event),
    waitForMessage(match, timeoutMs = 60_000, from = 0) {
      const seen = messages.slice(from).find(match)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (m: Record<string, unknown>) => {
            clearTimeout(timer)
            resolve(m)
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          reject(
            new Error(`fixture ${name} (pid ${child.pid}) sent no matching message in ${timeoutMs} ms.
stderr: ${stderr.slice(-4000)}`),
          )
        }, timeoutMs)
        waiters.add(waiter)
        void exited.then(({ code, signal }) => {
          if (!waiters.has(waiter)) return
          clearTimeout(timer)
          reject(
            new Error(`fixture ${name} exited (${code ?? signal}) before the message.
stderr: ${stderr.slice(-4000)}`),
          )
        })
      })
    },
    async kill() {
      if (!done) child.kill('SIGKILL')
      await exited
    },
    async stop() {
      if (!done) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      await exited
      clearTimeout(timer)
    },
  }
}
