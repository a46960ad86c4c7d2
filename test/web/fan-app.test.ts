import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { Api } from '../support/api-client.ts'
import { desktop, launchChromium, noChromium, phone, screenshot } from '../support/browser.ts'
import { createCoupon, createSchedule, enterQueue, grantCoupon, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

type Lang = 'ko' | 'en'

describe('fan web app in headless Chromium', { skip: noChromium }, () => {
  let t: TestApp
  let api: Api
  let browser: Browser
  before(async () => {
    t = await startTestApp('pglite', 'fan_app', { QUEUE_ADMIT_PER_SECOND: 1000 })
    api = new Api(t.url)
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await t.close()
  })

  const words = {
    ko: {
      queue: '대기실',
      seats: '좌석 배치도',
      checkout: '결제',
      paid: '결제가 완료되었습니다',
      amount: /90,000P/,
    },
    en: {
      queue: 'Waiting room',
      seats: 'Seat map',
      checkout: 'Checkout',
      paid: 'Payment complete',
      amount: /90,000 P/,
    },
  }

  for (const [lang, viewport, other] of [
    ['ko', phone, desktop],
    ['en', desktop, phone],
  ] as const) {
    test(`[${lang}] a new fan signs up, waits in line, holds a seat, tops up, pays with a coupon, gets a receipt`, async () => {
      const w = words[lang as Lang]
      const show = await createSchedule(api, t.adminKey, { seats: 24, price: 100_000, title: `Show ${lang}` })
      await t.app.admission.tick() // the sale opens: places in order of arrival
      // two fans are ahead in line
      for (const early of [await signUp(api), await signUp(api)])
        await enterQueue(api, early, show.scheduleId)
      const coupon = await createCoupon(api, t.adminKey, { discountType: 'percent', discountValue: 10 })

      const context = await browser.newContext({ locale: lang === 'ko' ? 'ko-KR' : 'en-US', viewport })
      const page = await context.newPage()
      try {
        await page.goto(t.url)
        assert.equal(await page.getAttribute('html', 'lang'), lang)
        await page.click('#who a')
        await page.fill('#up-name', lang === 'ko' ? '김민지' : 'Min-ji Kim')
        await page.fill('#up-email', `fan-${lang}-${Date.now()}@test.example`)
        await page.fill('#up-password', 'correct horse battery')
        await screenshot(page, `sign-in-${lang}-${viewport.width}`)
        await page.click('#sign-up button[type=submit]')
        await page.waitForSelector(`a[data-schedule="${show.scheduleId}"]`)
        await screenshot(page, `concerts-${lang}-${viewport.width}`)
        const userId = await page.evaluate(
          () => JSON.parse((globalThis as any).localStorage.getItem('session')).user.id,
        )
        assert.equal((await grantCoupon(api, t.adminKey, coupon.id, userId)).status, 201)

        await page.click(`a[data-schedule="${show.scheduleId}"]`)
        await page.locator('#position', { hasText: /^3$/ }).waitFor()
        assert.equal(await page.textContent('h1'), w.queue)
        assert.match((await page.textContent('#ahead')) ?? '', /2/)
        assert.equal(await page.getAttribute('#announce', 'aria-live'), 'polite')
        await screenshot(page, `waiting-room-${lang}-${viewport.width}`)
        // the place survives a reload
        await page.reload()
        await page.waitForSelector('#connection[data-state=open]', { state: 'attached' })
        assert.equal(await page.textContent('#position'), '3')

        await t.app.admission.tick()
        await page.waitForSelector('#go-seats')
        await page.waitForSelector('.seat.available')
        assert.equal(await page.textContent('h1'), w.seats)
        assert.equal(await page.locator('.seat').count(), 24)
        await screenshot(page, `seat-map-${lang}-${viewport.width}`)
        // keyboard only: focus the first seat and press Enter
        await page.focus('.seat.available')
        await page.keyboard.press('Enter')
        await page.waitForSelector('#checkout')
        assert.equal(await page.textContent('h1'), w.checkout)
        assert.match((await page.textContent('#hold-countdown')) ?? '', /\d/)
        await page.check(`input[name=coupon][value="${coupon.id}"]`)
        assert.match((await page.textContent('#total')) ?? '', w.amount)
        // 0 points: the page says how many are missing and offers exactly that top-up
        assert.equal(await page.inputValue('#top-up-amount'), '90000')
        await page.click('#top-up button[type=submit]')
        await page.locator('#wallet', { hasText: '90,000' }).waitFor()
        await screenshot(page, `checkout-${lang}-${viewport.width}`)
        await page.click('#pay')
        await page.waitForSelector('#receipt')
        assert.match((await page.textContent('#receipt')) ?? '', new RegExp(w.paid))
        assert.match((await page.textContent('#receipt')) ?? '', w.amount)
        await screenshot(page, `receipt-${lang}-${viewport.width}`)
        await page.setViewportSize(other)
        await screenshot(page, `receipt-${lang}-${other.width}`)
        await page.goto(`${t.url}/#/reservations`)
        await page.waitForSelector('.list .row')
        await screenshot(page, `reservations-${lang}-${other.width}`)

        const seats = await api.get(`/schedules/${show.scheduleId}/seats`)
        assert.equal(seats.body.seats.filter((s: { status: string }) => s.status === 'sold').length, 1)
      } finally {
        await context.close()
      }
    })
  }

  test('two browsers race for one seat: one holds it, the other is told at once and its map shows it taken', async () => {
    const show = await createSchedule(api, t.adminKey, { seats: 10 })
    const fans = [await signUp(api, 'racer'), await signUp(api, 'racer')]
    const tokens = await admitFans(t, api, show.scheduleId, fans)
    const pages: Page[] = []
    const contexts = []
    try {
      for (const [i, fan] of fans.entries()) {
        const context = await browser.newContext({ locale: 'en-US', viewport: i ? phone : desktop })
        contexts.push(context)
        await context.addInitScript(
          ([session, key, queue]: string[]) => {
            localStorage.setItem('session', session!)
            sessionStorage.setItem(key!, queue!)
          },
          [
            JSON.stringify({ user: { id: fan.id, email: fan.email, name: 'racer' }, accessToken: fan.token }),
            `queue:${show.scheduleId}`,
            JSON.stringify({ token: tokens[i], admittedUntil: new Date(Date.now() + 600_000).toISOString() }),
          ],
        )
        const page = await context.newPage()
        await page.goto(`${t.url}/#/seats/${show.scheduleId}`)
        await page.waitForSelector('.seat.available')
        pages.push(page)
      }
      const seatId = show.seatIds[4]!
      // both click in the same instant, before either map can hear of the other's hold
      const click = (page: Page) =>
        page.locator(`[data-seat="${seatId}"]`).evaluate((b) => (b as any).click())
      await Promise.all(pages.map(click))
      // the winner goes to checkout; the loser either got 409 (and says so) or its map had already turned the seat
      // taken when it clicked, so the click did nothing: in both cases it sees the seat taken without a reload
      const winnerIndex = await Promise.race(
        pages.map((page, i) => page.waitForSelector('#checkout').then(() => i)),
      )
      const loser = pages[1 - winnerIndex]!
      await loser.waitForSelector(`[data-seat="${seatId}"].held`)
      assert.equal(await loser.isDisabled(`[data-seat="${seatId}"]`), true)
      assert.match(loser.url(), /#\/seats\//)
      const said = (await loser.textContent('#seat-message')) ?? ''
      if (said) assert.match(said, /just took seat R-5/)
      console.log(
        `[figure] race loser ${said ? 'was answered 409 and told' : 'saw the seat taken before its click'}`,
      )
      await screenshot(loser, `race-loser-en-${loser.viewportSize()!.width}`)
      const held = await api.get(`/users/${fans[winnerIndex]!.id}/reservations`, {
        token: fans[winnerIndex]!.token,
      })
      assert.equal(held.body.reservations.length, 1)
      const lost = await api.get(`/users/${fans[1 - winnerIndex]!.id}/reservations`, {
        token: fans[1 - winnerIndex]!.token,
      })
      assert.equal(lost.body.reservations.length, 0)

      // a seat the winner holds next reaches the loser's open map without any reload
      const other = show.seatIds[7]!
      const next = await api.post(`/schedules/${show.scheduleId}/seats/${other}/hold`, {
        token: fans[winnerIndex]!.token,
        headers: { 'x-queue-token': tokens[winnerIndex]! },
      })
      assert.equal(next.status, 201)
      await loser.waitForSelector(`[data-seat="${other}"].held`, { timeout: 2000 })
    } finally {
      for (const context of contexts) await context.close()
    }
  })

  test('a click that loses the race in the database is told at once, and the map marks the seat taken', async () => {
    const show = await createSchedule(api, t.adminKey, { seats: 6 })
    const [fan, rival] = [await signUp(api, 'late'), await signUp(api, 'rival')]
    const [token, rivalToken] = await admitFans(t, api, show.scheduleId, [fan, rival])
    const context = await browser.newContext({ locale: 'ko-KR', viewport: phone })
    try {
      await context.addInitScript(
        ([session, key, queue]: string[]) => {
          localStorage.setItem('session', session!)
          sessionStorage.setItem(key!, queue!)
        },
        [
          JSON.stringify({ user: { id: fan.id, email: fan.email, name: 'late' }, accessToken: fan.token }),
          `queue:${show.scheduleId}`,
          JSON.stringify({ token, admittedUntil: new Date(Date.now() + 600_000).toISOString() }),
        ],
      )
      // this page's seat stream is frozen at the moment before the rival's hold (a push still on its way)
      const seats = (await api.get(`/schedules/${show.scheduleId}/seats`)).body.seats
      await context.route('**/seats/stream*', (route) =>
        route.fulfill({
          status: 200,
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
          body: `event: snapshot\ndata: ${JSON.stringify({ seats })}\n\n`,
        }),
      )
      const page = await context.newPage()
      await page.goto(`${t.url}/#/seats/${show.scheduleId}`)
      await page.waitForSelector('.seat.available')
      const seatId = show.seatIds[2]!
      const held = await api.post(`/schedules/${show.scheduleId}/seats/${seatId}/hold`, {
        token: rival.token,
        headers: { 'x-queue-token': rivalToken! },
      })
      assert.equal(held.status, 201)
      assert.equal(await page.isDisabled(`[data-seat="${seatId}"]`), false, 'the page has not heard of it')
      await page.click(`[data-seat="${seatId}"]`)
      await page.locator('#seat-message', { hasText: '방금 다른 분이 R-3 좌석을 선점했습니다' }).waitFor()
      assert.equal(await page.isDisabled(`[data-seat="${seatId}"]`), true)
      assert.match((await page.getAttribute(`[data-seat="${seatId}"]`, 'class')) ?? '', /held/)
      await screenshot(page, 'lost-race-ko-390')
    } finally {
      await context.close()
    }
  })

  test('a waiting page sees its place fall as others are admitted, with no request from the page', async () => {
    const show = await createSchedule(api, t.adminKey, { seats: 5 })
    await t.app.admission.tick()
    const ahead = []
    for (let i = 0; i < 5; i++) ahead.push(await signUp(api, 'ahead'))
    for (const fan of ahead) await enterQueue(api, fan, show.scheduleId)
    const fan = await signUp(api, 'watcher')
    const context = await browser.newContext({ locale: 'ko-KR', viewport: phone })
    try {
      await context.addInitScript(
        (session) => localStorage.setItem('session', session),
        JSON.stringify({ user: { id: fan.id, email: fan.email, name: 'watcher' }, accessToken: fan.token }),
      )
      const page = await context.newPage()
      await page.goto(`${t.url}/#/queue/${show.scheduleId}`)
      await page.waitForSelector('#connection[data-state=open]', { state: 'attached' })
      assert.equal(await page.textContent('#position'), '6')
      // from here on, every request the page makes is recorded
      const requests: string[] = []
      page.on('request', (request) => requests.push(`${request.method()} ${new URL(request.url()).pathname}`))
      const seen: string[] = []
      for (const through of [2, 4, 5]) {
        await t.app.database.db
          .updateTable('queue_state')
          .set({ admitted_through: through })
          .where('schedule_id', '=', show.scheduleId)
          .execute()
        const expected = String(6 - through)
        await page.locator('#position', { hasText: new RegExp(`^${expected}$`) }).waitFor({ timeout: 3000 })
        seen.push(expected)
      }
      assert.deepEqual(seen, ['4', '2', '1'])
      assert.match((await page.textContent('#announce')) ?? '', /1/)
      const progress = Number(await page.getAttribute('#progress', 'value'))
      assert.equal(progress, 100)
      await screenshot(page, 'waiting-room-moving-ko-390')
      assert.deepEqual(requests, [], `the page polled: ${requests.join(', ')}`)
    } finally {
      await context.close()
    }
  })
})

describe('fan web app: before the sale opens, and a hold that lapses during checkout', {
  skip: noChromium,
}, () => {
  let t: TestApp
  let api: Api
  let browser: Browser
  before(async () => {
    t = await startTestApp('pglite', 'fan_app_lapse', { QUEUE_ADMIT_PER_SECOND: 1000, HOLD_TTL_SECONDS: 3 })
    api = new Api(t.url)
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await t.close()
  })

  test('the waiting room counts down to the opening; checkout says when the hold lapsed and leads back', async () => {
    const later = await createSchedule(api, t.adminKey, {
      seats: 4,
      saleOpensAt: new Date(Date.now() + 3_600_000),
    })
    const show = await createSchedule(api, t.adminKey, { seats: 4 })
    const fan = await signUp(api, 'slow')
    const [token] = await admitFans(t, api, show.scheduleId, [fan])
    const context = await browser.newContext({ locale: 'en-US', viewport: desktop })
    try {
      await context.addInitScript(
        ([session, key, queue]: string[]) => {
          localStorage.setItem('session', session!)
          sessionStorage.setItem(key!, queue!)
        },
        [
          JSON.stringify({ user: { id: fan.id, email: fan.email, name: 'slow' }, accessToken: fan.token }),
          `queue:${show.scheduleId}`,
          JSON.stringify({ token, admittedUntil: new Date(Date.now() + 600_000).toISOString() }),
        ],
      )
      const page = await context.newPage()
      await page.goto(`${t.url}/#/queue/${later.scheduleId}`)
      await page.locator('#countdown', { hasText: /Sale opens in (59m|1h)/ }).waitFor()
      // the countdown comes with the page; the place only once the fan's entry has answered
      await page.locator('#ahead', { hasText: /drawn at random when the sale opens/ }).waitFor()
      await screenshot(page, 'pre-queue-en-1280')
      // the language is switchable, and the choice is kept
      await page.selectOption('#lang', 'ko')
      await page.locator('#countdown', { hasText: '예매 오픈까지' }).waitFor()
      assert.equal(await page.textContent('h1'), '대기실')
      assert.equal(await page.getAttribute('html', 'lang'), 'ko')
      await page.selectOption('#lang', 'en')
      await page.locator('h1', { hasText: 'Waiting room' }).waitFor()

      await page.goto(`${t.url}/#/seats/${show.scheduleId}`)
      await page.click(`[data-seat="${show.seatIds[0]}"]`)
      await page.waitForSelector('#checkout')
      await page.locator('#lapsed', { hasText: 'Your hold lapsed' }).waitFor({ timeout: 10_000 })
      assert.equal(await page.locator('#pay').count(), 0, 'nothing left to pay')
      assert.equal(await page.isVisible('#top-up'), false)
      await screenshot(page, 'hold-lapsed-en-1280')
      await page.click('#checkout a.button')
      await page.waitForSelector(`[data-seat="${show.seatIds[0]}"].available`)
    } finally {
      await context.close()
    }
  })
})
