import { PartitionDispatcher } from '../src/events/transport/partition-dispatcher.ts'
import type { TransportRecord } from '../src/events/transport/port.ts'
async function run(n: number, keys: number) {
  let handled = 0
  let resolveAll!: () => void
  const all = new Promise<void>((r) => (resolveAll = r))
  const d = new PartitionDispatcher({
    handle: async () => { if (++handled === n) resolveAll() },
    commit: async () => {},
    keyConcurrency: 256,
    onError: (e) => { throw e },
  })
  const recs: TransportRecord[] = []
  for (let i = 0; i < n; i++) recs.push({ topic: 'points.charged', partition: 0, offset: BigInt(i), key: `user-${i % keys}`, value: '', headers: {} } as unknown as TransportRecord)
  const s = performance.now()
  for (let i = 0; i < n; i += 500) d.push(recs.slice(i, i + 500))
  await all
  const ms = performance.now() - s
  await d.close()
  return ms * 1000 / n
}
for (let r = 0; r < 6; r++) console.log((await run(50_000, 500)).toFixed(2), 'µs/record (500 keys)', (await run(50_000, 50_000)).toFixed(2), 'µs/record (unique keys)')
