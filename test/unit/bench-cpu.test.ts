import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism, cpus, release } from 'node:os'
import { describe, test } from 'node:test'
import {
  localBrokerPids,
  machineCpu,
  machineFacts,
  mainThreadSeconds,
  pageTouchMicros,
  spawnServer,
  systemCallMicros,
} from '../../bench/support/service.ts'
import { unusedPort } from '../support/sockets.ts'

/** A process's session id, from /proc. */
const sessionOf = (pid: number) =>
  Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3])
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

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
    const machineStart = machineCpu().busy
    const ownStart = process.cpuUsage()
    let spent = 0
    let x = 0
    while (spent < 300_000) {
      for (let i = 0; i < 100_000; i++) x += Math.sqrt(i)
      const used = process.cpuUsage(ownStart)
      spent = used.user + used.system
    }
    const machine = machineCpu().busy - machineStart
    assert.ok(x > 0)
    // /proc/stat counts in ticks of 10 ms: a tick of slack.
    assert.ok(machine >= spent / 1e6 - 0.02, `machine ${machine} s, this process ${spent / 1e6} s`)
  })
  test("the machine's kernel CPU counts this process's system calls, and is part of its busy CPU", () => {
    const start = machineCpu()
    const ownStart = process.cpuUsage()
    const devNull = openSync('/dev/null', 'w')
    const chunk = Buffer.alloc(64)
    let system = 0
    try {
      while (system < 300_000) {
        for (let i = 0; i < 20_000; i++) writeSync(devNull, chunk)
        system = process.cpuUsage(ownStart).system
      }
    } finally {
      closeSync(devNull)
    }
    const end = machineCpu()
    const kernel = end.kernel - start.kernel
    const busy = end.busy - start.busy
    // /proc/stat counts in ticks of 10 ms: a tick of slack.
    assert.ok(
      kernel >= system / 1e6 - 0.02,
      `kernel ${kernel} s, this process's system time ${system / 1e6} s`,
    )
    assert.ok(busy >= kernel, `busy ${busy} s, kernel ${kernel} s`)
  })
  test('the machine says what it is: its CPU, its kernel, and page-table isolation as the kernel reports it', () => {
    const facts = machineFacts()
    assert.equal(facts.kernel, release())
    assert.ok(facts.cpu.startsWith(cpus()[0]!.model.trim()), facts.cpu)
    // The kernel's own report on Meltdown names PTI exactly when it isolates the page tables.
    const meltdown = '/sys/devices/system/cpu/vulnerabilities/meltdown'
    if (existsSync(meltdown))
      assert.equal(
        facts.pageTableIsolation,
        /\bPTI\b/.test(readFileSync(meltdown, 'utf8')),
        readFileSync(meltdown, 'utf8'),
      )
  })

  test('a system call is timed: a read of 1 MiB costs more than a read of one byte, and the kernel does the copying', () => {
    const small = systemCallMicros(1, 50_000)
    const large = systemCallMicros(1 << 20, 2_000)
    assert.ok(small.wall > 0 && Number.isFinite(small.wall), `${small.wall} µs`)
    // The kernel fills 1 MiB with zeros: 15 µs here against 2 for a byte; 5 µs of slack for a noisy host.
    assert.ok(large.wall > small.wall + 5, `1 MiB ${large.wall} µs, one byte ${small.wall} µs`)
    assert.ok(large.kernel > large.wall / 2, `1 MiB: ${large.kernel} of ${large.wall} µs in the kernel`)
  })

  test('a first write to new memory is timed: every page of it faults once, and costs more than a second write', () => {
    const { firstTouch, again, faults } = pageTouchMicros(8)
    // 2,048 pages of 4 KB, or 4 of 2 MB where the kernel backs all memory with huge pages when it can.
    const thp = '/sys/kernel/mm/transparent_hugepage/enabled'
    const hugeAlways = existsSync(thp) && readFileSync(thp, 'utf8').includes('[always]')
    assert.ok(faults >= (hugeAlways ? 4 : 2_048) && faults <= 2_048 + 64, `${faults} faults`)
    // A fault costs the kernel's entry and the zeroing of the page: well above a write to a page already there.
    assert.ok(firstTouch > 3 * again, `first write ${firstTouch} µs a page, again ${again} µs`)
  })

  test("a process's main thread: the time it ran, and the time it waited for a CPU while more threads spun than there are CPUs", async () => {
    // One more spinning process than CPUs: together they must wait at least one spinner's run.
    const spinners = Array.from({ length: availableParallelism() + 1 }, () =>
      spawn(process.execPath, ['-e', 'const end = Date.now() + 600; while (Date.now() < end);'], {
        stdio: 'ignore',
      }),
    )
    const readings = await Promise.all(
      spinners.map(async (child) => {
        const start = mainThreadSeconds(child.pid!)
        await new Promise((r) => setTimeout(r, 500))
        const end = mainThreadSeconds(child.pid!)
        await once(child, 'exit')
        return { running: end.running - start.running, waiting: end.waiting - start.waiting }
      }),
    )
    const running = readings.reduce((sum, r) => sum + r.running, 0)
    const waiting = readings.reduce((sum, r) => sum + r.waiting, 0)
    assert.ok(running > 0.2, `ran ${running} s`)
    assert.ok(waiting > 0.1, `waited ${waiting} s in all`)
    assert.ok(Number.isNaN(mainThreadSeconds(2 ** 22 + 1).running))
  })

  test('a server under test is killed when the benchmark process ends', async () => {
    const script = `
      import { spawnServer } from ${JSON.stringify(new URL('../../bench/support/service.ts', import.meta.url).href)}
      const child = spawnServer(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
      console.log(child.pid)
      setTimeout(() => process.kill(process.pid, 'SIGTERM'), 300)`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    assert.equal(run.status, 143, run.stderr)
    const pid = Number(run.stdout.trim())
    assert.ok(pid > 0, run.stdout)
    const deadline = Date.now() + 5_000
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.equal(alive(pid), false, 'the server outlived the benchmark process')
  })

  test('the server is the leader of a new session', async () => {
    const child = spawnServer(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
    try {
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(sessionOf(child.pid!), child.pid)
      assert.notEqual(sessionOf(child.pid!), sessionOf(process.pid))
    } finally {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  })
})
