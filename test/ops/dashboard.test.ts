import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { EXACT_BACKLOG_UP_TO } from '../../src/events/outbox/backlog.ts'
import { Api } from '../support/api-client.ts'
import { launchChromium, noChromium } from '../support/browser.ts'
import { createSchedule, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

describe('operator dashboard in headless Chromium', { skip: noChromium }, () => {
  let t: TestApp
  before(async () => {
    t = await startTestApp('pglite', 'dashboard', { QUEUE_ADMIT_PER_SECOND: 100 })
  })
  after(() => t.close())

  test('refuses a wrong key, then shows the pipeline, waiting room, seat map and an empty dead-letter list', async () => {
    const api = new Api(t.url)
    const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 20 })
    const fan = await signUp(api)
    const [queueToken] = await admitFans(t, api, scheduleId, [fan])
    const hold = await api.post(`/schedules/${scheduleId}/seats/${seatIds[3]}/hold`, {
      token: fan.token,
      headers: { 'x-queue-token': queueToken! },
    })
    assert.equal(hold.status, 201)

    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      // The page works under its Content-Security-Policy: nothing it needs is refused.
      const refused: string[] = []
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) refused.push(message.text())
      })
      await page.goto(`${t.url}/dashboard`)
      await page.fill('#key', 'wrong-key')
      await page.click('#refresh')
      await page.waitForSelector('#status .bad')
      assert.match((await page.textContent('#status')) ?? '', /ADMIN_KEY_INVALID/)

      await page.fill('#key', t.adminKey)
      await page.fill('#schedule', scheduleId)
      await page.click('#refresh')
      await page.waitForSelector('.seat')
      assert.equal(await page.locator('.seat').count(), 20)
      assert.equal(await page.locator('.seat.held').count(), 1)
      assert.match((await page.textContent('#pipeline')) ?? '', /transport local/)
      assert.match((await page.textContent('#queue')) ?? '', /admitted now 1/)
      assert.match((await page.textContent('#dead')) ?? '', /none/)
      assert.match(
        (await page.textContent('#pipeline')) ?? '',
        /outbox backlog \d+ \(oldest/,
        'counted exactly',
      )
      assert.deepEqual(refused, [], 'the page needs nothing its policy refuses')
      if (process.env.DASHBOARD_SCREENSHOT)
        await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true })

      // A backlog past what is counted (rows of a topic no relay publishes, so they stay) shows as an estimate.
      await sql`insert into outbox (id, topic, key, event)
                select gen_random_uuid(), 'dashboard.unrelayed', 'k' || i, '{}'::jsonb
                  from generate_series(1, ${EXACT_BACKLOG_UP_TO + 5}) as i`.execute(t.app.database.db)
      try {
        await page.click('#refresh')
        await page.locator('#pipeline', { hasText: '≈' }).waitFor()
        const shown = /outbox backlog ≈ (\d+) /.exec((await page.textContent('#pipeline')) ?? '')
        assert.ok(shown, 'the backlog is shown as an estimate')
        assert.ok(Number(shown[1]) >= EXACT_BACKLOG_UP_TO + 5, `shown ${shown[1]}`)
        if (process.env.DASHBOARD_SCREENSHOT)
          await page.screenshot({
            path: process.env.DASHBOARD_SCREENSHOT.replace(/(\.png)?$/, '-estimate.png'),
          })
      } finally {
        await sql`delete from outbox where topic = 'dashboard.unrelayed'`.execute(t.app.database.db)
      }
    } finally {
      await browser.close()
    }
  })
})
