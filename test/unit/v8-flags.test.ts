import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { turnOffPretenuring } from '../../src/platform/v8-flags.ts'

const run = promisify(execFile)

/**
 * V8's report of its allocation sites (`--trace-pretenuring-statistics`) for objects of one site that survive young
 * collections (a ring of 300,000 kept ones, as a burst's requests in flight are): the lines it prints at each
 * collection while it weighs pretenuring them.
 */
async function pretenuringReport(turnOff: boolean): Promise<string[]> {
  const script = `
    const { turnOffPretenuring } = await import(${JSON.stringify(new URL('../../src/platform/v8-flags.ts', import.meta.url).pathname)})
    if (${turnOff}) turnOffPretenuring()
    const make = (i) => ({ id: i, name: 'seat ' + i, tags: [i, i + 1], nested: { v: i } })
    const ring = new Array(300_000)
    for (let i = 0; i < 1_000_000; i++) ring[i % ring.length] = make(i)
  `
  const { stdout } = await run(process.execPath, [
    '--trace-pretenuring-statistics',
    '--input-type=module',
    '-e',
    script,
  ])
  return stdout.split('\n').filter((line) => line.includes('pretenuring:'))
}

test('the service allocates young where V8 would weigh pretenuring a site whose objects survive', async () => {
  const [weighed, off] = await Promise.all([pretenuringReport(false), pretenuringReport(true)])
  assert.ok(weighed.length > 0, 'without it V8 weighs pretenuring the site')
  assert.deepEqual(off, [], 'with pretenuring off V8 weighs no allocation site')
})

test("node's own command line wins over the service's choice", () => {
  assert.equal(turnOffPretenuring(['--allocation-site-pretenuring']), false)
  assert.equal(turnOffPretenuring(['--no-allocation-site-pretenuring']), false)
})
