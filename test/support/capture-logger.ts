import { Writable } from 'node:stream'
import pino from 'pino'
import type { Logger } from '../../src/platform/logger.ts'

/** A logger at `level` whose lines (JSON, one per entry) are kept in `lines` for a test to read. */
export function captureLogger(level: string): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk))
      done()
    },
  })
  return { logger: pino({ level }, sink), lines }
}
