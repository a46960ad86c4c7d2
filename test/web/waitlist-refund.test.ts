import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser, BrowserContext } from 'playwright-core'
import { Api } from '../support/api-client.ts'
import { desktop, launchChromium, noChromium, phone, screenshot } from '../support/browser.ts'
import { buy, charge, createSchedule, type Fan, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

// A sold-out show in the browser: one fan refunds their ticket from "My tickets", the seat comes back through the
// event backbone and is offered to the fan waiting on the list, who holds it and reaches checkout.
describe('refund and waiting list in headless Chromium', { skip: noChromium }, () => {
  let t: TestApp
  let api: Api
  let browser: Browser
  before(async () => {
    t = await startTestApp('pglite', 'waitlist_web', { QUEUE_ADMIT_PER_SECOND: 1000 }, { background: true })
    api = new Api(t.url)
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await t.close()
  })

  /** A browser context signed in as `fan`, in `lang`. */
  async function as(fan: Fan, lang: 'ko' | 'en', viewport: { width: number; height: number }) {
    const context = await browser.newContext({ locale: lang === 'ko' ? 'ko-KR' : 'en-US', viewport })
    await context.addInitScript(
      (session) => (globalThis as any).localStorage.setItem('session', session),
      JSON.stringify({ user: { id: fan.id, email: fan.email, name: 'fan' }, accessToken: fan.token }),
    )
    return context
  }

  test('a refunded seat is offered to the waiting fan, who holds it from the offer', async () => {
    const show = await createSchedule(api, t.adminKey, { seats: 1, price: 30_000, title: 'Sold Out Night' })
    await t.app.admission.tick()
    const buyer = await signUp(api, 'buyer')
    await charge(api, buyer, 30_000)
    const [queueToken] = await admitFans(t, api, show.scheduleId, [buyer])
    await buy(api, { ...buyer, queueToken: queueToken! }, show.scheduleId, show.seatIds[0]!)
    const waiting = await signUp(api, 'waiting')

    const contexts: BrowserContext[] = []
    try {
      // the waiting fan finds the show sold out and joins its waiting list
      const w = await as(waiting, 'ko', phone)
      contexts.push(w)
      const wp = await w.newPage()
      await wp.goto(t.url)
      const join = wp.locator(`a[data-schedule="${show.scheduleId}"]`)
      assert.equal(await join.textContent(), '취소표 대기 신청')
      await join.click()
      await wp.click('#join-waitlist')
      await wp.locator('#waitlist', { hasText: '취소표 대기 1번째입니다.' }).waitFor()
      await screenshot(wp, 'waitlist-ko-390')

      // the organizer sees the fan on the list in the console
      const console = await browser.newContext({ viewport: desktop })
      contexts.push(console)
      const cp = await console.newPage()
      await cp.goto(`${t.url}/dashboard`)
      await cp.fill('#key', t.adminKey)
      await cp.fill('#schedule', show.scheduleId)
      await cp.click('#refresh')
      await cp.locator('#waitlist tbody tr', { hasText: waiting.id }).waitFor()
      assert.match((await cp.textContent('#waitlist-counts')) ?? '', /waiting 1/)

      // the buyer refunds from their tickets
      const b = await as(buyer, 'en', desktop)
      contexts.push(b)
      const bp = await b.newPage()
      bp.on('dialog', (dialog) => dialog.accept())
      await bp.goto(`${t.url}/#/reservations`)
      await bp.click('button[data-refund]')
      await bp.locator('.pill.refunded', { hasText: 'Refunded' }).waitFor()
      await bp.locator('#balance', { hasText: '30,000' }).waitFor()
      await screenshot(bp, 'refunded-en-1280')
      assert.equal((await api.get(`/users/${buyer.id}/wallet`, { token: buyer.token })).body.balance, 30_000)

      // the seat is offered to the waiting fan (the page checks again when asked), who holds it
      let offered = false
      for (let i = 0; i < 60 && !offered; i++) {
        await wp.click('#waitlist button')
        offered = await wp
          .locator('#hold-offer')
          .waitFor({ timeout: 500 })
          .then(() => true)
          .catch(() => false)
      }
      assert.ok(offered, 'the refunded seat was offered to the waiting fan')
      await screenshot(wp, 'waitlist-offer-ko-390')
      await wp.click('#hold-offer')
      await wp.waitForURL(/#\/checkout\//)
      const seats = await api.get(`/schedules/${show.scheduleId}/seats`)
      assert.equal(seats.body.seats[0].status, 'held')
    } finally {
      for (const c of contexts) await c.close()
    }
  })
})
