import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser, BrowserContext } from 'playwright-core'
import { FANS_BUSY_AT } from '../../src/platform/fan-load.ts'
import { Api } from '../support/api-client.ts'
import { desktop, launchChromium, noChromium, phone, screenshot } from '../support/browser.ts'
import { createSchedule, enterQueue, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// The on-call engineer's view of a burst: while the fans keep the instance busy, the console's pipeline says the side
// effects wait for them, and the lag of the groups that yield is marked as such; once the fans are fewer, both go.
describe('the console during a burst, in headless Chromium', { skip: noChromium }, () => {
  let t: TestApp
  let api: Api
  let browser: Browser
  before(async () => {
    t = await startTestApp(
      'pglite',
      'console_fans',
      // The side effects wait for as long as the test keeps the fans busy (two browser pages): the bound of one busy
      // spell (3 s by default) is tested in test/unit/fan-load.test.ts and test/events/yield-to-fans.test.ts.
      { QUEUE_ADMIT_PER_SECOND: 1_000_000, YIELD_TO_FANS_MS: 60_000 },
      { background: true, manualAdmission: true },
    )
    api = new Api(t.url)
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await t.close()
  })

  /** The console in a new page of `context`, connected with the admin key and refreshing every half second. */
  async function openConsole(context: BrowserContext) {
    const page = await context.newPage()
    await page.goto(`${t.url}/dashboard?every=500`)
    await page.fill('#key', t.adminKey)
    await page.click('#refresh')
    return page
  }

  test('"fans first" and the yielding groups’ lag while the fans are busy, nothing of it after', async () => {
    const { scheduleId } = await createSchedule(api, t.adminKey, { seats: 10, price: 1_000 })
    await t.app.admission.tick()
    const fans = await Promise.all(Array.from({ length: 4 }, (_, i) => signUp(api, `c${i}`)))
    for (const fan of fans) assert.equal((await enterQueue(api, fan, scheduleId)).status, 201)
    await t.app.events.runtime.joined

    // The test stands for the fans whose operations are in flight; the admitted fans' notices then wait.
    const load = t.app.events.fans
    for (let i = 0; i < FANS_BUSY_AT; i++) load.enter()
    await t.app.admission.tick()

    for (const [size, name] of [
      [desktop, 'console-fans-first-1280'],
      [phone, 'console-fans-first-390'],
    ] as const) {
      const context = await browser.newContext({ viewport: size })
      try {
        const page = await openConsole(context)
        await page.locator('#pipeline', { hasText: 'fans first' }).waitFor()
        assert.match(
          (await page.textContent('#pipeline')) ?? '',
          new RegExp(`${FANS_BUSY_AT} fans' operations in flight: side effects wait`),
        )
        await page.locator('#lag tbody tr', { hasText: 'notify.queue.admitted' }).waitFor()
        const row = (await page.textContent('#lag tbody tr:has-text("notify.queue.admitted")')) ?? ''
        assert.match(row, /yields to fans/)
        await screenshot(page, name)
      } finally {
        await context.close()
      }
    }

    for (let i = 0; i < FANS_BUSY_AT; i++) load.leave()
    const context = await browser.newContext({ viewport: desktop })
    try {
      const page = await openConsole(context)
      await page.locator('#lag tbody tr', { hasText: 'no lag' }).waitFor({ timeout: 15_000 })
      assert.doesNotMatch((await page.textContent('#pipeline')) ?? '', /fans first/)
    } finally {
      await context.close()
    }
  })
})
