// Notifications end to end: queue admission, coupon results, holds, payments and expiries become inbox
// notifications with the concert, date, seat and amount, and deliveries to a generic webhook, Slack, Discord and
// Telegram, each a real loopback server. Slack fails forever: the other channels and the business flow go on, and
// Slack's deliveries end as failed after their retries. Runs on the embedded log (real PostgreSQL) and on Kafka.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { seedAdmittedFans } from '../support/fans.ts'
import { type Buyer, createCoupon, createSchedule, holdSeat, inbox, pay } from '../support/flows.ts'
import { deadLettersOf, quiesce, report, shownTime, startApp, targets, waitFor } from './support/harness.ts'
import { Receiver } from './support/receiver.ts'

const BOT_TOKEN = '123456:side-effects-bot'
// 3 immediate tries per stage, 1 + 3 stages
const TRIES = 3 * (1 + 3)

for (const target of targets()) {
  describe(`notifications on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test('every event reaches the inbox and each enabled channel in its format; a failing channel blocks nothing', async (t) => {
      const started = performance.now()
      const [webhook, slack, discord, telegram] = await Promise.all([
        Receiver.start(),
        Receiver.start(),
        Receiver.start(),
        Receiver.start(),
      ])
      t.after(() => Promise.all([webhook, slack, discord, telegram].map((r) => r!.close())))
      await slack!.setMode('5xx') // Slack is broken for the whole test
      const app = await startApp(target, 'notifications', {
        NOTIFY_WEBHOOK_URL: webhook!.url('/hooks/tickets'),
        SLACK_WEBHOOK_URL: slack!.url('/services/T000/B000/XXXX'),
        DISCORD_WEBHOOK_URL: discord!.url('/api/webhooks/42/token'),
        TELEGRAM_BOT_TOKEN: BOT_TOKEN,
        TELEGRAM_API_URL: telegram!.url(''),
        NOTIFY_TIMEOUT_MS: 2000,
        HOLD_TTL_SECONDS: 4,
        RETRY_DELAYS_MS: '200,400,800',
        QUEUE_TICK_MS: 60_000, // admission driven by the test
      })
      t.after(() => app.close())

      const show = await createSchedule(app.api, app.adminKey, { seats: 3, price: 100_000 })
      const coupon = await createCoupon(app.api, app.adminKey, {
        name: `Early bird ${show.scheduleId.slice(0, 4)}`,
        totalQuantity: 1,
        discountType: 'percent',
        discountValue: 10,
      })
      const seeded = await seedAdmittedFans(app.db, {
        count: 3,
        points: 1_000_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
        admit: false,
      })
      const [ann, ben, cho] = seeded.map((f) => ({ id: f.id, token: f.token, queueToken: '' })) as [
        Buyer,
        Buyer,
        Buyer,
      ]
      const users = new Set([ann.id, ben.id, cho.id])

      // Preferences: Ann and Ben have Telegram chats; Ben turns Discord off; Cho sets nothing (no Telegram chat).
      for (const [fan, preferences] of [
        [ann, [{ channel: 'telegram', enabled: true, target: '1001' }]],
        [
          ben,
          [
            { channel: 'telegram', enabled: true, target: '1002' },
            { channel: 'discord', enabled: false, target: null },
          ],
        ],
      ] as const) {
        const res = await app.api.request('PUT', `/users/${fan.id}/notification-preferences`, {
          token: fan.token,
          body: { preferences },
        })
        assert.equal(res.status, 200, JSON.stringify(res.body))
      }

      // queue.admitted for all three, through the real waiting room
      for (const fan of [ann, ben, cho]) {
        const entered = await app.api.post(`/schedules/${show.scheduleId}/queue`, { token: fan.token })
        assert.equal(entered.status, 201)
      }
      await waitFor('all three admitted', async () => {
        await app.app.admission.tick()
        for (const fan of [ann, ben, cho]) {
          const me = await app.api.get(`/schedules/${show.scheduleId}/queue/me`, { token: fan.token })
          if (!me.body.token) return false
          fan.queueToken = me.body.token
        }
        return true
      })
      const admittedUntil = new Map<string, string>()
      for (const fan of [ann, ben, cho]) {
        const me = await app.api.get(`/schedules/${show.scheduleId}/queue/me`, { token: fan.token })
        admittedUntil.set(fan.id, me.body.admittedUntil)
      }

      // coupon.issued for Ann, coupon.rejected (sold out) for Ben
      const decided = async (fan: Buyer) => {
        const asked = await app.api.post(`/coupons/${coupon.id}/requests`, { token: fan.token })
        assert.equal(asked.status, 202)
        return waitFor('coupon decision', async () => {
          const r = await app.api.get(`/coupon-requests/${asked.body.requestId}`, { token: fan.token })
          return r.body.status !== 'pending' && r.body
        })
      }
      assert.equal((await decided(ann)).status, 'issued')
      const rejected = await decided(ben)
      assert.equal(rejected.status, 'rejected')
      assert.equal(rejected.reason, 'SOLD_OUT')

      // reservation.held for all; Ann pays with her coupon, Cho without; Ben's hold expires.
      const held = new Map<string, any>()
      for (const [i, fan] of [ann, ben, cho].entries()) {
        const res = await holdSeat(app.api, fan, show.scheduleId, show.seats[i]!.id, fan.queueToken)
        assert.equal(res.status, 201)
        held.set(fan.id, res.body)
      }
      const annPaid = await pay(app.api, ann, held.get(ann.id).id, ann.queueToken, { couponId: coupon.id })
      assert.equal(annPaid.status, 201, 'payment succeeds while Slack is failing')
      assert.equal(annPaid.body.amount, 90_000)
      const choPaid = await pay(app.api, cho, held.get(cho.id).id, cho.queueToken)
      assert.equal(choPaid.status, 201)
      assert.equal(choPaid.body.amount, 100_000)

      // What each inbox must end up with, and the facts each message carries.
      const show_ = `${show.title} (${shownTime(show.startsAt)})`
      const expected: Record<string, Record<string, { data: Record<string, unknown>; body: string[] }>> = {}
      const admittedFacts = (fan: Buyer) => ({
        data: { concertTitle: show.title, startsAt: show.startsAt, deadline: admittedUntil.get(fan.id) },
        body: [show_, shownTime(admittedUntil.get(fan.id)!)],
      })
      const heldFacts = (fan: Buyer) => {
        const r = held.get(fan.id)
        return {
          data: {
            concertTitle: show.title,
            startsAt: show.startsAt,
            seatLabel: r.seatLabel,
            amount: 100_000,
            deadline: r.expiresAt,
          },
          body: [show_, `seat ${r.seatLabel}`, '100,000 points', shownTime(r.expiresAt)],
        }
      }
      const paidFacts = (fan: Buyer, amount: number) => ({
        data: {
          concertTitle: show.title,
          startsAt: show.startsAt,
          seatLabel: held.get(fan.id).seatLabel,
          amount,
        },
        body: [show_, `seat ${held.get(fan.id).seatLabel}`, `paid ${amount.toLocaleString('en-US')} points`],
      })
      expected[ann.id] = {
        'queue-admitted': admittedFacts(ann),
        'coupon-issued': { data: { couponName: coupon.name }, body: [coupon.name] },
        'reservation-held': heldFacts(ann),
        'payment-confirmed': paidFacts(ann, 90_000),
      }
      expected[ben.id] = {
        'queue-admitted': admittedFacts(ben),
        'coupon-rejected': {
          data: { couponName: coupon.name, reason: 'SOLD_OUT' },
          body: [coupon.name, 'all were taken'],
        },
        'reservation-held': heldFacts(ben),
        'reservation-expired': {
          data: {
            concertTitle: show.title,
            startsAt: show.startsAt,
            seatLabel: held.get(ben.id).seatLabel,
            amount: 100_000,
            deadline: held.get(ben.id).expiresAt,
          },
          body: [show_, `seat ${held.get(ben.id).seatLabel}`, shownTime(held.get(ben.id).expiresAt)],
        },
      }
      expected[cho.id] = {
        'queue-admitted': admittedFacts(cho),
        'reservation-held': heldFacts(cho),
        'payment-confirmed': paidFacts(cho, 100_000),
      }
      // Channels each user gets: Ben turned Discord off; Cho has no Telegram chat.
      const channelsOf: Record<string, string[]> = {
        [ann.id]: ['discord', 'slack', 'telegram', 'webhook'],
        [ben.id]: ['slack', 'telegram', 'webhook'],
        [cho.id]: ['discord', 'slack', 'webhook'],
      }
      const total = Object.values(expected).reduce((n, kinds) => n + Object.keys(kinds).length, 0)

      // Wait until every delivery has ended (sent, or failed after all its retries).
      const inboxes = await waitFor(
        'every notification in its inbox with every delivery settled',
        async () => {
          const all = await Promise.all(
            [ann, ben, cho].map(async (fan) => [fan.id, await inbox(app.api, fan)] as const),
          )
          const settled = all.every(
            ([id, list]) =>
              list.length === Object.keys(expected[id]!).length &&
              list.every(
                (n: any) =>
                  n.deliveries.length === channelsOf[id]!.length &&
                  n.deliveries.every((d: any) => d.status !== 'pending'),
              ),
          )
          return settled && new Map(all)
        },
        {
          timeoutMs: 60_000,
          describe: async () =>
            Promise.all(
              [ann, ben, cho].map(async (fan) =>
                (await inbox(app.api, fan)).map((n: any) => [n.kind, n.deliveries.map((d: any) => d.status)]),
              ),
            ),
        },
      )

      for (const fan of [ann, ben, cho]) {
        const list = inboxes.get(fan.id)!
        assert.deepEqual(
          list.map((n: any) => n.kind).sort(),
          Object.keys(expected[fan.id]!).sort(),
          'one inbox notification per event of this user',
        )
        for (const n of list) {
          const want = expected[fan.id]![n.kind]!
          for (const [field, value] of Object.entries(want.data)) {
            assert.equal(n.data[field], value, `${n.kind}.${field}`)
          }
          for (const part of want.body)
            assert.ok(n.body.includes(part), `${n.kind} body "${n.body}" says ${part}`)
          assert.deepEqual(n.deliveries.map((d: any) => d.channel).sort(), channelsOf[fan.id])
          for (const d of n.deliveries) {
            if (d.channel === 'slack') {
              assert.equal(d.status, 'failed', 'Slack deliveries end failed')
              assert.equal(d.attempts, TRIES, 'after every immediate try of every retry stage')
              assert.match(d.lastError, /503/)
              assert.equal(d.sentAt, null)
            } else {
              assert.equal(d.status, 'sent', `${n.kind} on ${d.channel}`)
              assert.ok(d.attempts >= 1)
              assert.ok(d.sentAt)
            }
          }
        }
      }

      // The generic webhook: every notification once, as JSON with the user, kind, title, body and facts.
      const hooks = webhook!.recordsWhere((r) => users.has(r.body?.userId))
      assert.equal(hooks.length, total)
      for (const fan of [ann, ben, cho]) {
        const list = inboxes.get(fan.id)!
        for (const n of list) {
          const got = hooks.filter((h) => h.body.id === n.id)
          assert.equal(got.length, 1, `webhook got ${n.kind} of ${fan.id} once`)
          assert.deepEqual(
            {
              userId: got[0]!.body.userId,
              kind: got[0]!.body.kind,
              title: got[0]!.body.title,
              body: got[0]!.body.body,
            },
            { userId: fan.id, kind: n.kind, title: n.title, body: n.body },
          )
          assert.deepEqual(got[0]!.body.data, n.data)
          assert.equal(got[0]!.path, '/hooks/tickets')
        }
      }
      assert.equal(webhook!.duplicates.length, 0)

      // Discord: `content` in its markdown; Ann's and Cho's notifications, none of Ben's (he turned it off).
      const discordTexts = discord!.recordsWhere(() => true).map((r) => r.body.content as string)
      const discordExpected = [...inboxes.get(ann.id)!, ...inboxes.get(cho.id)!]
        .map((n: any) => `**${n.title}**\n${n.body}`)
        .sort()
      assert.deepEqual(discordTexts.sort(), discordExpected)
      assert.ok(!discordTexts.some((c) => c.includes('Hold expired') || c.includes('Coupon not issued')))

      // Telegram: POST /bot<token>/sendMessage with the user's chat id; Cho set no chat, so nothing for him.
      const sent = telegram!.recordsWhere(() => true)
      for (const r of sent) assert.equal(r.path, `/bot${BOT_TOKEN}/sendMessage`)
      for (const [fan, chat] of [
        [ann, '1001'],
        [ben, '1002'],
      ] as const) {
        assert.deepEqual(
          sent
            .filter((r) => r.body.chat_id === chat)
            .map((r) => r.body.text)
            .sort(),
          inboxes
            .get(fan.id)!
            .map((n: any) => `${n.title}\n${n.body}`)
            .sort(),
        )
      }
      assert.equal(sent.length, inboxes.get(ann.id)!.length + inboxes.get(ben.id)!.length)

      // Slack received every message in its format (`text`, mrkdwn blocks) and refused them all.
      const slackTexts = new Set(slack!.requests.map((r) => r.body.text as string))
      for (const fan of [ann, ben, cho]) {
        for (const n of inboxes.get(fan.id)!) {
          const text = `*${n.title}*\n${n.body}`
          assert.ok(slackTexts.has(text), `Slack was asked to post ${n.kind}`)
        }
      }
      assert.ok(slack!.requests.every((r) => r.body.blocks?.[0]?.text?.type === 'mrkdwn'))
      assert.equal(slack!.records.size, 0)

      // The business flow went on: Ben's seat is back on sale, the others sold.
      const seats = await app.db
        .selectFrom('seats')
        .select(['id', 'status'])
        .where('schedule_id', '=', show.scheduleId)
        .execute()
      const statusOf = new Map(seats.map((s) => [s.id, s.status]))
      assert.deepEqual(
        [0, 1, 2].map((i) => statusOf.get(show.seats[i]!.id)),
        ['sold', 'available', 'sold'],
      )

      // Only Slack's deliveries are dead letters of this run (group notification-delivery, one per notification).
      await quiesce(app)
      const dead = await deadLettersOf(app, users)
      assert.equal(dead.length, total)
      assert.ok(dead.every((d) => d.group === 'notification-delivery' && /503/.test(d.error)))
      report(`notifications ${target.kind}`, {
        notifications: total,
        seconds: Math.round((performance.now() - started) / 100) / 10,
      })
    })
  })
}
