import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { Receiver } from '../side-effects/support/receiver.ts'
import { Api } from '../support/api-client.ts'
import { desktop, launchChromium, noChromium, phone, screenshot } from '../support/browser.ts'
import { createCoupon, createSchedule, type Fan, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

// The fan's account pages against the whole service (its consumers running): a first-come coupon from request to
// issued or rejected, the inbox the issuing fills, and the channel preferences saved from the page.
describe('fan web app: coupons, inbox and preferences in headless Chromium', { skip: noChromium }, () => {
  let t: TestApp
  let api: Api
  let browser: Browser
  let hook: Receiver
  before(async () => {
    hook = await Receiver.start()
    t = await startTestApp(
      'pglite',
      'account_pages',
      {
        NOTIFY_WEBHOOK_URL: hook.url('/notify'),
        TELEGRAM_BOT_TOKEN: 'bot-token-for-tests',
        TELEGRAM_API_URL: hook.url('/telegram'),
      },
      { background: true },
    )
    api = new Api(t.url)
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await t.close()
    await hook.close()
  })

  async function pageOf(
    fan: Fan,
    lang: 'en' | 'ko',
    viewport: typeof phone,
  ): Promise<[BrowserContext, Page]> {
    const context = await browser.newContext({ locale: lang === 'ko' ? 'ko-KR' : 'en-US', viewport })
    const session = JSON.stringify({
      user: { id: fan.id, email: fan.email, name: fan.email },
      accessToken: fan.token,
    })
    await context.addInitScript((value: string) => localStorage.setItem('session', value), session)
    return [context, await context.newPage()]
  }

  test('the last coupon goes to the first fan who asks; the second is told it is gone; the winner finds it and its notice', async () => {
    const coupon = await createCoupon(api, t.adminKey, { totalQuantity: 1, name: 'Early bird 10' })
    const first = await signUp(api, 'coupon-first')
    const second = await signUp(api, 'coupon-second')
    const [c1, p1] = await pageOf(first, 'en', desktop)
    const [c2, p2] = await pageOf(second, 'ko', phone)
    try {
      for (const page of [p1, p2]) {
        await page.goto(`${t.url}/#/coupons`)
        await page.locator('li', { hasText: 'Early bird 10' }).waitFor()
      }
      const offer = (page: Page) => page.locator('li', { hasText: 'Early bird 10' })
      await offer(p1).locator('button').first().click()
      // pending, then the page asks again by itself (or the fan does) until the coupon is issued
      const issued = async (page: Page, text: RegExp) => {
        for (let i = 0; i < 40; i++) {
          if (text.test((await offer(page).locator('.message').textContent()) ?? '')) return
          const again = offer(page).locator('button.secondary')
          if (await again.isVisible()) await again.click()
          await page.waitForTimeout(250)
        }
        assert.fail(
          `the coupon page never said ${text}: ${await offer(page).locator('.message').textContent()}`,
        )
      }
      await issued(p1, /Issued!/)
      await offer(p2).locator('button').first().click()
      await issued(p2, /발급되지 않았습니다: 모두 소진/)
      // the count read with the page said 1 left: the answer corrects it
      assert.match((await offer(p2).textContent()) ?? '', /0장 남음/)
      await screenshot(p2, `coupons-ko-${phone.width}`)

      await p1.reload()
      // listed under the fan's own coupons
      await p1.locator('h2:text-is("My coupons") + ul li', { hasText: 'Early bird 10' }).waitFor()
      await screenshot(p1, `coupons-en-${desktop.width}`)
      const owned = await api.get(`/users/${first.id}/coupons`, { token: first.token })
      assert.deepEqual(
        owned.body.coupons.map((c: { couponId: string }) => c.couponId),
        [coupon.id],
      )
      const others = await api.get(`/users/${second.id}/coupons`, { token: second.token })
      assert.deepEqual(others.body.coupons, [])

      // the issuing reached the winner's inbox
      await p1.goto(`${t.url}/#/inbox`)
      for (let i = 0; i < 40 && (await p1.locator('ul.list li').count()) === 0; i++) {
        await p1.waitForTimeout(250)
        await p1.reload()
      }
      assert.match((await p1.locator('ul.list').textContent()) ?? '', /Early bird 10/)
    } finally {
      await c1.close()
      await c2.close()
    }
  })

  test('preferences saved from the inbox page: a channel turned off and a Telegram chat id', async () => {
    const fan = await signUp(api, 'prefs')
    const [context, page] = await pageOf(fan, 'ko', phone)
    try {
      await page.goto(`${t.url}/#/inbox`)
      await page.waitForSelector('#preferences input[name=webhook]')
      assert.equal(await page.isChecked('#preferences input[name=webhook]'), true)
      await page.uncheck('#preferences input[name=webhook]')
      await page.fill('#telegram-chat', '123456789')
      await page.click('#preferences button[type=submit]')
      await page.getByText('저장했습니다.').first().waitFor()
      await screenshot(page, `inbox-ko-${phone.width}`)

      const saved = await api.get(`/users/${fan.id}/notification-preferences`, { token: fan.token })
      const byChannel = new Map<string, { enabled: boolean; target: string | null }>(
        saved.body.preferences.map((p: { channel: string; enabled: boolean; target: string | null }) => [
          p.channel,
          p,
        ]),
      )
      assert.equal(byChannel.get('webhook')?.enabled, false)
      assert.equal(byChannel.get('telegram')?.target, '123456789')
      // and the page shows what was saved when it comes back
      await page.reload()
      await page.waitForSelector('#preferences input[name=webhook]')
      assert.equal(await page.isChecked('#preferences input[name=webhook]'), false)
      assert.equal(await page.inputValue('#telegram-chat'), '123456789')
    } finally {
      await context.close()
    }
  })

  test('a page left while it loads does not draw over the next: a slow concert list and a quick sign-in', async () => {
    await createSchedule(api, t.adminKey, { seats: 4, price: 10_000, title: 'Slow list' })
    const context = await browser.newContext({ locale: 'en-US', viewport: phone })
    const page = await context.newPage()
    try {
      // The real server answers the list, a second and a half late, as on a crowded sale's first minute.
      let answered!: () => void
      const listAnswered = new Promise<void>((resolve) => {
        answered = resolve
      })
      await page.route('**/concerts', async (route) => {
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        await route.continue()
        answered()
      })
      await page.goto(t.url)
      await page.click('#who a')
      await page.fill('#up-name', 'Quick Fan')
      await listAnswered
      // Time for the left page to draw, were it going to.
      await page.waitForTimeout(750)
      assert.equal(
        await page.inputValue('#up-name'),
        'Quick Fan',
        'the sign-in form is still there, as typed',
      )
      assert.equal(await page.locator('article.concert').count(), 0, 'no concert list drawn over it')
    } finally {
      await context.close()
    }
  })
})
