import { after } from 'node:test'
import { openKafkaClients, watchKafkaClients } from './kafka-clients.ts'
import { connectionsTo } from './sockets.ts'
import { waitFor } from './wait.ts'

export type TransportKind = 'local' | 'kafka'

export interface TransportTarget {
  kind: TransportKind
  /** Why the transport is skipped (undefined: it runs). */
  skip: string | undefined
  /** Why the transport must fail: it is required (TEST_KAFKA_REQUIRED=1) but unavailable. */
  fail: string | undefined
  brokers: string[]
}

/**
 * The transports a suite runs on: `local` always, `kafka` when KAFKA_BROKERS is set (skipped with the reason
 * otherwise, failed when TEST_KAFKA_REQUIRED=1). TEST_TRANSPORTS narrows the list (`local`, `kafka`).
 * A file that runs on Kafka also checks, after all its tests, that nothing it closed left a connection to a broker
 * open or a timer armed (either keeps the file's process, like a service's, from exiting).
 */
export function transportTargets(kinds: readonly TransportKind[] = ['local', 'kafka']): TransportTarget[] {
  const only = process.env.TEST_TRANSPORTS?.split(',').map((k) => k.trim())
  const targets = kinds.filter((k) => !only || only.includes(k)).map((kind) => targetFor(kind))
  const kafka = targets.find((t) => t.kind === 'kafka' && !t.skip && !t.fail)
  if (kafka) checkBrokersLeftAfterAll(kafka.brokers)
  return targets
}

/** Registered by each file's own call (a shared test process runs several files: each gets its check). */
function checkBrokersLeftAfterAll(brokers: readonly string[]): void {
  watchKafkaClients()
  after(async () => {
    await waitFor(
      'every connection to the brokers closed after the last test',
      () => connectionsTo(brokers).length === 0,
      {
        timeoutMs: 10_000,
        // the clients still open come first: the state is cut at 2,000 characters
        describe: () => ({ openClients: openKafkaClients(), connections: connectionsTo(brokers) }),
      },
    )
    // Nor a timer: one left armed holds the process for as long as it runs. A consumer's heartbeat watchdog, armed by
    // a heartbeat that got its connection while the consumer closed, held a file's process for a minute after its
    // last test (the library is patched for it, patches/).
    await waitFor(
      'no timer holds the process after the last test',
      () => !process.getActiveResourcesInfo().includes('Timeout'),
      { timeoutMs: 10_000, describe: () => process.getActiveResourcesInfo() },
    )
  })
}

function targetFor(kind: TransportKind): TransportTarget {
  if (kind === 'local') return { kind, skip: undefined, fail: undefined, brokers: [] }
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean)
  if (brokers.length > 0) return { kind, skip: undefined, fail: undefined, brokers }
  const missing = 'KAFKA_BROKERS is not set (npm test starts a cluster; or bash scripts/kafka/kafka.sh up)'
  return process.env.TEST_KAFKA_REQUIRED === '1'
    ? { kind, skip: undefined, fail: `Kafka is required (TEST_KAFKA_REQUIRED=1) but ${missing}`, brokers }
    : { kind, skip: `kafka skipped: ${missing}`, fail: undefined, brokers }
}
