import { randomUUID } from 'node:crypto'
import { Consumer, stringDeserializers } from '@platformatic/kafka'
import type { OffsetRange } from '../port.ts'

/**
 * The value of one header on every record of these ranges, read by a short-lived consumer of its own group (manual
 * offsets, nothing committed). Rare: only a relay that finds records past its recorded positions needs it.
 */
export async function readHeader(
  options: { brokers: readonly string[]; clientId: string },
  ranges: readonly OffsetRange[],
  header: string,
  timeoutMs = 30_000,
): Promise<string[]> {
  const wanted = ranges.filter((r) => r.to > r.from)
  if (wanted.length === 0) return []
  const consumer = new Consumer<string, string, string, string>({
    clientId: `${options.clientId}-read-back`,
    bootstrapBrokers: [...options.brokers],
    groupId: `${options.clientId}-read-back-${randomUUID()}`,
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: 200,
    retries: 5,
    retryDelay: 500,
  })
  const left = new Map(wanted.map((r) => [`${r.topic}:${r.partition}`, r]))
  const values: string[] = []
  try {
    const stream = await consumer.consume({
      topics: [...new Set(wanted.map((r) => r.topic))],
      mode: 'manual',
      offsets: wanted.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.from })),
      autocommit: false,
    })
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`reading back ${[...left.keys()].join(', ')} took over ${timeoutMs} ms`)),
          timeoutMs,
        )
        const done = () => {
          clearTimeout(timer)
          resolve()
        }
        stream.on('error', (err) => {
          clearTimeout(timer)
          reject(err)
        })
        stream.on('data', (message) => {
          const key = `${message.topic}:${message.partition}`
          const range = left.get(key)
          if (!range || message.offset < range.from || message.offset >= range.to) return
          for (const [name, value] of message.headerEntries)
            if (String(name) === header && value) values.push(value)
          if (message.offset >= range.to - 1n) {
            left.delete(key)
            if (left.size === 0) done()
          }
        })
      })
    } finally {
      await stream.close().catch(() => {})
    }
  } finally {
    await consumer.close(true).catch(() => {})
  }
  return values
}
