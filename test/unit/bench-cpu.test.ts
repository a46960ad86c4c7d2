import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { describe, test } from 'node:test'
import { localBrokerPids, machineCpuSeconds } from '../../bench/support/service.ts'
import { unusedPort } from '../support/sockets.ts'

// The benchmark's CPU accounting: whom it counts as the brokers, and what the whole machine spent.
describe('benchmark CPU accounting', () => {
  test('the processes listening on a loopback broker address are found; remote or unused addresses find none', async () => {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const unused = await unusedPort()
    try {
      assert.deepEqual(localBrokerPids([`127.0.0.1:${port}`]), [process.pid])
      assert.deepEqual(localBrokerPids([`localhost:${port}`, `127.0.0.1:${unused}`]), [process.pid])
      assert.deepEqual(localBrokerPids([`10.1.2.3:${port}`]), [])
      assert.deepEqual(localBrokerPids([`127.0.0.1:${unused}`]), [])
    } finally {
      server.close()
    }
  })

  test("the machine's busy CPU counts at least this process's own work", () => {
    const machineStart = machineCpuSeconds()
    const ownStart = process.cpuUsage()
    let spent = 0
    let x = 0
    while (spent < 300_000) {
      for (let i = 0; i < 100_000; i++) x += Math.sqrt(i)
      const used = process.cpuUsage(ownStart)
      spent = used.user + used.system
    }
    const machine = machineCpuSeconds() - machineStart
    assert.ok(x > 0)
    // /proc/stat counts in ticks of 10 ms: a tick of slack.
    assert.ok(machine >= spent / 1e6 - 0.02, `machine ${machine} s, this process ${spent / 1e6} s`)
  })
})
