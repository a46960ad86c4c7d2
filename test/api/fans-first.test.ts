// The service's side effects and the fans they yield to: which consumer groups yield (what no fan waits for) and
// which never do (what a fan is waiting on; hold expiry only defers fetching holds due minutes later), and the fans' requests through HTTP counted in the same FanLoad the
// consumers wait on.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { FANS_BUSY_AT, FANS_QUIET_MS, fanLoad } from '../../src/platform/fan-load.ts'
import { Api } from '../support/api-client.ts'
import { createSchedule, enterQueue, signUp } from '../support/flows.ts'
import { startTestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

test('notifications, rankings, webhooks and the data platform yield to the fans; expiry, coupons, offers and codes never do', async () => {
  const t = await startTestApp('pglite', 'fansfirst', {
    DATA_PLATFORM_URL: 'http://127.0.0.1:9/sync',
  })
  try {
    const groups = t.app.events.runtime.subscriptions
    const yielding = groups.filter((s) => s.yieldsToFans).map((s) => s.group)
    const never = groups.filter((s) => !s.yieldsToFans).map((s) => s.group)
    for (const group of yielding) {
      assert.match(group, /^(notify\.|notification-delivery$|ranking|webhooks\.|data-platform)/, group)
    }
    for (const group of [
      'ranking',
      'notify.reservation.confirmed',
      'notification-delivery',
      'data-platform',
    ]) {
      assert.ok(yielding.includes(group), `${group} does not yield`)
    }
    assert.ok(yielding.some((g) => g.startsWith('webhooks.')))
    for (const group of [
      'hold-expiration',
      'coupon-issuance',
      'phone-verification',
      'waitlist-offer-expiration',
    ]) {
      assert.ok(never.includes(group), `${group} yields or is missing`)
    }
    assert.ok(never.some((g) => g.startsWith('waitlist.')))
    for (const group of never) {
      assert.match(group, /^(hold-expiration|coupon-issuance|phone-verification|waitlist)/, group)
    }
    // A hold's expiry is fetched after the fans' burst (5 min before it is due, against 30 s of waiting at most),
    // and ended when due all the same.
    assert.deepEqual(
      groups.filter((s) => s.fetchYieldsToFans).map((s) => s.group),
      ['hold-expiration'],
    )
  } finally {
    await t.close()
  }
})

test('holds shorter than twice YIELD_TO_FANS_MS are fetched beside the fans', async () => {
  const t = await startTestApp('pglite', 'fansshortholds', { HOLD_TTL_SECONDS: 59, YIELD_TO_FANS_MS: 30_000 })
  try {
    assert.deepEqual(
      t.app.events.runtime.subscriptions.filter((s) => s.fetchYieldsToFans || s.group === 'hold-expiration'),
      [
        {
          group: 'hold-expiration',
          topics: t.app.events.runtime.subscriptions.find((s) => s.group === 'hold-expiration')!.topics,
          yieldsToFans: false,
          fetchYieldsToFans: false,
        },
      ],
    )
  } finally {
    await t.close()
  }
})

test('on PostgreSQL, fans entering a waiting room together make the instance busy for its side effects, then quiet', async () => {
  const t = await startTestApp('postgres', 'fansbusy', { QUEUE_ADMIT_PER_SECOND: 1_000_000 })
  try {
    const api = new Api(t.url)
    const { scheduleId } = await createSchedule(api, t.adminKey, { seats: 10, price: 1_000 })
    await t.app.admission.tick()
    const fans = await Promise.all(Array.from({ length: 2 * FANS_BUSY_AT }, (_, i) => signUp(api, `f${i}`)))
    const load = fanLoad(t.app.database)
    assert.equal(load.busy, false)
    let most = 0
    let sawBusy = false
    const watching = setInterval(() => {
      most = Math.max(most, load.inFlight)
      sawBusy ||= load.busy
    }, 0)
    const answers = await Promise.all(fans.map((fan) => enterQueue(api, fan, scheduleId)))
    clearInterval(watching)
    assert.deepEqual(
      answers.map((a) => a.status),
      fans.map(() => 201),
    )
    assert.ok(sawBusy, `never busy: at most ${most} fans' entries in flight at once`)
    assert.equal(load.inFlight, 0)
    await sleep(FANS_QUIET_MS + 50)
    assert.equal(load.busy, false, 'still busy after the quiet time')
  } finally {
    await t.close()
  }
})

test('while the fans keep an instance busy its admission notices wait, and the console summary says why the lag grows', async () => {
  const t = await startTestApp(
    'postgres',
    'fanslag',
    // The notices wait for as long as the test keeps the fans busy, not the default 3 s of one busy spell.
    { QUEUE_ADMIT_PER_SECOND: 1_000_000, YIELD_TO_FANS_MS: 60_000 },
    { background: true, manualAdmission: true },
  )
  try {
    const api = new Api(t.url)
    const headers = { headers: { 'x-admin-key': t.adminKey } }
    const { scheduleId } = await createSchedule(api, t.adminKey, { seats: 10, price: 1_000 })
    await t.app.admission.tick()
    const fans = await Promise.all(Array.from({ length: 5 }, (_, i) => signUp(api, `l${i}`)))
    for (const fan of fans) assert.equal((await enterQueue(api, fan, scheduleId)).status, 201)
    await t.app.events.runtime.joined
    const admittedNotices = async () =>
      (
        await t.app.database.db
          .selectFrom('notifications')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('kind', '=', 'queue-admitted')
          .executeTakeFirstOrThrow()
      ).n

    // The test stands for FANS_BUSY_AT fans whose operations are in flight (the count the group commits keep).
    const load = t.app.events.fans
    for (let i = 0; i < FANS_BUSY_AT; i++) load.enter()
    await t.app.admission.tick()
    await waitFor('the admitted fans’ notices waiting as lag', async () => {
      const summary = (await api.get('/admin/ops/summary', headers)).body
      return summary.lag.some(
        (l: { group: string; lag: number }) => l.group === 'notify.queue.admitted' && l.lag > 0,
      )
    })
    const busy = (await api.get('/admin/ops/summary', headers)).body
    assert.deepEqual(busy.fans, { ...busy.fans, busy: true, sideEffectsWait: true, inFlight: FANS_BUSY_AT })
    const entry = busy.lag.find((l: { group: string }) => l.group === 'notify.queue.admitted')
    assert.equal(entry.yieldsToFans, true)
    assert.equal(await admittedNotices(), 0, 'a notice was written while the fans were busy')

    for (let i = 0; i < FANS_BUSY_AT; i++) load.leave()
    await waitFor('every admitted fan’s notice', async () => (await admittedNotices()) === fans.length)
    const after = (await api.get('/admin/ops/summary', headers)).body
    assert.equal(after.fans.busy, false)
    assert.equal(after.fans.sideEffectsWait, false)
    assert.equal(after.fans.spells, 1)
    assert.ok(after.fans.yieldedSeconds > 0)
  } finally {
    await t.close()
  }
})
