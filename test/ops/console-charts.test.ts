import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { Page } from 'playwright-core'
import { Api } from '../support/api-client.ts'
import { desktop, launchChromium, noChromium, phone, screenshot, smallPhone } from '../support/browser.ts'
import { charge, createSchedule, insertDeadLetter, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

describe('operator console in headless Chromium: live charts, forms, dead letters', {
  skip: noChromium,
}, () => {
  let t: TestApp
  before(async () => {
    t = await startTestApp('pglite', 'console', { QUEUE_ADMIT_PER_SECOND: 1000, OPS_SAMPLE_MS: 250 })
  })
  after(() => t.close())

  const nonzero = async (page: Page, chart: string) =>
    Number((await page.getAttribute(`#chart-${chart}`, 'data-nonzero')) ?? 0)

  test('the charts move during a small scripted sale; sale progress, forms and a dead letter shown', async () => {
    const api = new Api(t.url)
    const show = await createSchedule(api, t.adminKey, { seats: 12, price: 1000 })
    const browser = await launchChromium()
    try {
      const page = await browser.newPage({ viewport: desktop })
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
      await page.goto(`${t.url}/dashboard?every=400`)
      await page.fill('#key', t.adminKey)
      await page.fill('#schedule', show.scheduleId)
      await page.click('#refresh')
      await page.waitForSelector('#chart-holds')
      assert.equal(await page.locator('.chart').count(), 8)
      for (const chart of ['admissions', 'holds', 'payments', 'conflicts'])
        assert.equal(await nonzero(page, chart), 0)
      const pointsBefore = Number(await page.getAttribute('#chart-holds', 'data-points'))

      // the sale: four fans admitted, each holds a seat, a fifth attempt loses a race (409), one pays
      const fans = []
      for (let i = 0; i < 4; i++) fans.push(await signUp(api, 'buyer'))
      const tokens = await admitFans(t, api, show.scheduleId, fans)
      const holds = []
      for (const [i, fan] of fans.entries()) {
        const held = await api.post(`/schedules/${show.scheduleId}/seats/${show.seatIds[i]}/hold`, {
          token: fan.token,
          headers: { 'x-queue-token': tokens[i]! },
        })
        assert.equal(held.status, 201)
        holds.push(held.body)
      }
      const lost = await api.post(`/schedules/${show.scheduleId}/seats/${show.seatIds[0]}/hold`, {
        token: fans[1]!.token,
        headers: { 'x-queue-token': tokens[1]! },
      })
      assert.equal(lost.status, 409)
      await charge(api, fans[0]!, 5000)
      const paid = await api.post(`/reservations/${holds[0].id}/payment`, {
        token: fans[0]!.token,
        headers: { 'x-queue-token': tokens[0]!, 'idempotency-key': randomUUID() },
        body: {},
      })
      assert.equal(paid.status, 201)

      for (const chart of ['admissions', 'holds', 'payments', 'conflicts'])
        await page.waitForFunction(
          (id) =>
            Number(
              (globalThis as any).document.querySelector(`#chart-${id}`)?.getAttribute('data-nonzero') ?? 0,
            ) > 0,
          chart,
          { timeout: 10_000 },
        )
      assert.ok(
        Number(await page.getAttribute('#chart-holds', 'data-points')) > pointsBefore,
        'new points drawn',
      )
      await page.locator('#progress', { hasText: 'sold 1 · held 3 · free 8 of 12' }).waitFor()
      assert.equal(await page.locator('#seatmap .seat.sold').count(), 1)
      assert.equal(await page.locator('#seatmap .seat.held').count(), 3)
      await screenshot(page, 'console-en-1280')

      // the create forms call the same admin API
      await page.fill('#new-concert [name=title]', 'Console Live')
      await page.fill('#new-concert [name=artist]', 'IU')
      await page.fill('#new-concert [name=venue]', 'Olympic Hall')
      await page.click('#new-concert button[type=submit]')
      await page.locator('#new-concert output', { hasText: 'created' }).waitFor()
      await page.click('#new-schedule button[type=submit]')
      await page.locator('#new-schedule output', { hasText: 'with 50 seats' }).waitFor()
      await page.fill('#new-coupon [name=name]', 'Console 10%')
      await page.click('#new-coupon button[type=submit]')
      await page.locator('#new-coupon output', { hasText: 'created' }).waitFor()
      const concerts = await api.get('/concerts')
      assert.ok(concerts.body.concerts.some((c: { title: string }) => c.title === 'Console Live'))
      const coupons = await api.get('/coupons')
      assert.ok(coupons.body.coupons.some((c: { name: string }) => c.name === 'Console 10%'))

      // a dead letter is listed and shown with its payload, error and attempts
      await insertDeadLetter(t.app.database.db, {
        groupId: 'data-platform',
        topic: 'reservation.confirmed',
        key: holds[0].id,
        error: 'partner answered 422: unknown venue',
        value: { data: { reservationId: holds[0].id } },
      })
      await page.locator('#dead td', { hasText: 'partner answered 422' }).waitFor()
      await page.click('#dead button:text("Show")')
      await page.locator('#dead-detail', { hasText: '4 attempts' }).waitFor()
      assert.match((await page.textContent('#dead-detail .payload')) ?? '', /reservationId/)
      await page.setViewportSize(phone)
      // The dead letters' table is wider than a phone: it scrolls inside its card, not the page (checked here).
      await screenshot(page, 'console-en-390')
      // The header's inputs and the seat grades' row fit a narrower phone too.
      await page.setViewportSize(smallPhone)
      await screenshot(page, 'console-en-320')
      assert.deepEqual(errors, [])
    } finally {
      await browser.close()
    }
  })
})
