// A test process that runs the files it is sent one after another inside itself (node:test with isolation 'none')
// and sends their events back: the service's modules and PGlite's WebAssembly load once per process, not once per
// file. What a file prints comes back as that file's output. Started by shared-runs.ts.
import { run } from 'node:test'
import type { TestEvent } from 'node:test/reporters'
import { toWire } from './wire.ts'

export interface FileOrder {
  file: string
  timeout: number
  namePatterns: string[]
  skipPatterns: string[]
}

let current: string | undefined
const send = (message: unknown) =>
  new Promise<void>((resolve, reject) =>
    process.send!(message, (error: Error | null) => (error ? reject(error) : resolve())),
  )

for (const stream of [process.stdout, process.stderr]) {
  const type = stream === process.stdout ? 'test:stdout' : 'test:stderr'
  const write = stream.write.bind(stream)
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (current === undefined) return write(chunk, ...(rest as []))
    const message = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
    void send({ event: { type, data: { file: current, message, nesting: 0 } } })
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined
    callback?.()
    return true
  }) as typeof stream.write
}

async function runFile(order: FileOrder): Promise<void> {
  const { file } = order
  current = file
  await send({ event: { type: 'test:dequeue', data: { name: file, file, nesting: 0 } } })
  // An in-process run ends when nothing is left to do but its own reporting (node:test waits for 'beforeExit'):
  // the channel to the parent must not count meanwhile.
  process.channel!.unref()
  const stream = run({
    files: [file],
    isolation: 'none',
    timeout: order.timeout,
    ...(order.namePatterns.length > 0 ? { testNamePatterns: order.namePatterns } : {}),
    ...(order.skipPatterns.length > 0 ? { testSkipPatterns: order.skipPatterns } : {}),
  })
  for await (const event of stream as AsyncIterable<TestEvent>) {
    // In a shared process the run's summary names no file: it is this file's.
    const data = event.type === 'test:summary' ? { ...event.data, file } : event.data
    await send({ event: toWire({ type: event.type, data }) })
  }
  current = undefined
  process.channel!.ref()
  await send({ done: file })
}

let work = Promise.resolve()
process.on('message', (order: FileOrder) => {
  work = work.then(() => runFile(order))
})
process.on('disconnect', () => process.exit(0))
await send({ ready: true })
