// scripts/kafka/probe.ts, the readiness check of kafka.sh, on the real cluster: a broker that answers on our port for
// another cluster (two state dirs on one port base, two npm test runs at once) is named as foreign at once, instead
// of the cluster being declared ready on someone else's brokers (which then went away with their run).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { transportTargets } from '../support/transports.ts'

const PROBE = fileURLToPath(new URL('../../scripts/kafka/probe.ts', import.meta.url))

/** probe.ts `node` on broker `address` as node 1 (its pid: this live process), with a cluster id to expect. */
async function probe(address: string, clusterId: string) {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [PROBE, 'node', '20000', 'false', `1@${address}@${process.pid}`],
      { env: { ...process.env, KAFKA_PROBE_CLUSTER_ID: clusterId } },
    )
    return { code: 0, stdout }
  } catch (error) {
    const e = error as { code?: number; stdout?: string }
    if (typeof e.code !== 'number') throw error
    return { code: e.code, stdout: e.stdout ?? '' }
  }
}

for (const kafka of transportTargets(['kafka'])) {
  test('the readiness probe tells a foreign cluster on our port from ours', {
    skip: kafka.skip,
  }, async () => {
    if (kafka.fail) assert.fail(kafka.fail)
    const [address] = kafka.brokers
    const other = await probe(address!, 'AnotherClusterId000000')
    assert.equal(other.code, 5, other.stdout)
    assert.match(other.stdout, /^RESULT foreign 1$/m)
    const answered = new RegExp(
      `${address} answers for cluster (\\S+), not this state dir's AnotherClusterId000000`,
    )
    const actual = answered.exec(other.stdout)?.[1]
    assert.ok(actual, other.stdout)

    // The broker's own cluster id: ready.
    const ours = await probe(address!, actual)
    assert.equal(ours.code, 0, ours.stdout)
    assert.match(ours.stdout, /^RESULT ok$/m)
  })
}
