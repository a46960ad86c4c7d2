// The channels Korean fans use, end to end against loopback partners speaking the real formats (the real services
// cannot be reached from these machines): a fan verifies a phone by a code sent on NHN Cloud's SMS authentication
// route, registers two devices (one of them uninstalled), opts into SMS, and buys a seat; the held and paid
// notifications go out as KakaoTalk AlimTalk templates, SMS/LMS texts and FCM HTTP v1 pushes with an OAuth2 token
// from a service-account key. Runs on both transports.
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { seedAdmittedFans } from '../support/fans.ts'
import { buy, createSchedule, inbox } from '../support/flows.ts'
import { quiesce, startApp, targets, waitFor } from './support/harness.ts'
import { serviceAccountKey, startGoogle, startNhnCloud } from './support/korean-partners.ts'

const APP_KEY = 'nhn-app-key'
const SECRET = 'nhn-secret'
const SENDER_KEY = 'kakao-sender-key'

/** "2026-12-25 19:00" in Korea (UTC+9, no daylight saving), computed apart from the code under test. */
const inKorea = (iso: string) =>
  new Date(Date.parse(iso) + 9 * 3_600_000).toISOString().replace('T', ' ').slice(0, 16)

for (const target of targets()) {
  describe(`Korean notification channels on ${target.kind}`, { skip: target.skip }, () => {
    if (target.fail) {
      test('Kafka variant', () => assert.fail(target.fail))
      return
    }

    test('phone verified by SMS code; AlimTalk templates, SMS and FCM pushes per device; an uninstalled device is forgotten', async (t) => {
      const nhn = await startNhnCloud({ appKey: APP_KEY, secretKey: SECRET })
      const dead = `dead-device-${Date.now()}:APA91b`
      const google = await startGoogle({ unregistered: new Set([dead]), failFirst: 1 })
      t.after(() => Promise.all([nhn.close(), google.receiver.close()]))
      const key = serviceAccountKey(google.receiver.url('/token'))
      google.trust(key.publicKey)
      const keyFile = join(tmpdir(), `fcm-key-${process.pid}-${target.kind}.json`)
      writeFileSync(keyFile, key.json, { mode: 0o600 })
      t.after(() => rmSync(keyFile, { force: true }))

      const app = await startApp(target, 'korean_channels', {
        ALIMTALK_API_URL: nhn.url(''),
        ALIMTALK_APP_KEY: APP_KEY,
        ALIMTALK_SECRET_KEY: SECRET,
        ALIMTALK_SENDER_KEY: SENDER_KEY,
        ALIMTALK_TEMPLATES: 'payment-confirmed=TICKET_PAID_V2',
        SMS_API_URL: nhn.url(''),
        SMS_APP_KEY: APP_KEY,
        SMS_SECRET_KEY: SECRET,
        SMS_SENDER_NUMBER: '15446859',
        FCM_SERVICE_ACCOUNT: keyFile,
        FCM_API_URL: google.receiver.url(''),
        NOTIFY_TIMEOUT_MS: 2000,
        HOLD_TTL_SECONDS: 600,
      })
      t.after(() => app.close())

      const show = await createSchedule(app.api, app.adminKey, { seats: 2, price: 120_000 })
      const [ann, ben] = await seedAdmittedFans(app.db, {
        count: 2,
        points: 1_000_000,
        secret: app.secret,
        scheduleId: show.scheduleId,
      })
      if (!ann || !ben) throw new Error('two fans')

      // Ann verifies her phone: the code arrives on the SMS authentication route, and she types it in.
      const asked = await app.api.post(`/users/${ann.id}/phone/verification`, {
        token: ann.token,
        body: { phoneNumber: '010-3000-0001' },
      })
      assert.equal(asked.status, 202, JSON.stringify(asked.body))
      const codeSms = await waitFor('the code SMS', () =>
        nhn.requests.find((r) => r.path === `/sms/v3.0/appKeys/${APP_KEY}/sender/auth/sms`),
      )
      assert.equal(codeSms.headers['x-secret-key'], SECRET)
      assert.equal(codeSms.body.sendNo, '15446859')
      assert.deepEqual(codeSms.body.recipientList, [{ recipientNo: '01030000001' }])
      assert.match(codeSms.body.body, /인증/, 'the authentication route needs the word 인증')
      const code = /인증번호 ([0-9]{6})/.exec(codeSms.body.body)?.[1]
      assert.ok(code, codeSms.body.body)
      await waitFor('the code marked sent', async () => {
        const me = await app.api.get(`/users/${ann.id}/phone`, { token: ann.token })
        return me.body.pending?.sendStatus === 'sent'
      })
      const confirmed = await app.api.post(`/users/${ann.id}/phone/verification/confirm`, {
        token: ann.token,
        body: { code },
      })
      assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body))

      // Devices: Ann has a live phone and an uninstalled tablet; Ben one phone and no verified number.
      const live = `live-device-${ann.id}:APA91b`
      const bens = `ben-device-${ben.id}:APA91b`
      for (const [fan, device] of [
        [ann, live],
        [ann, dead],
        [ben, bens],
      ] as const) {
        const res = await app.api.post(`/users/${fan.id}/push-tokens`, {
          token: fan.token,
          body: { token: device, platform: 'android' },
        })
        assert.equal(res.status, 201)
      }
      const optIn = await app.api.request('PUT', `/users/${ann.id}/notification-preferences`, {
        token: ann.token,
        body: { preferences: [{ channel: 'sms', enabled: true, target: null }] },
      })
      assert.equal(optIn.status, 200)

      const annBuy = await buy(app.api, ann, show.scheduleId, show.seatIds[0]!)
      const benBuy = await buy(app.api, ben, show.scheduleId, show.seatIds[1]!)

      // Every delivery settles: Ann 2 notifications × (AlimTalk, SMS, 2 devices); Ben 2 × 1 device.
      const settled = async (fan: { id: string; token: string }, perNotification: number) => {
        const list = await inbox(app.api, fan)
        return (
          list.length === 2 &&
          list.every(
            (n) =>
              n.deliveries.length === perNotification &&
              n.deliveries.every((d: any) => d.status !== 'pending'),
          ) &&
          list
        )
      }
      const annInbox = await waitFor('Ann’s deliveries settled', () => settled(ann, 4), { timeoutMs: 60_000 })
      const benInbox = await waitFor('Ben’s deliveries settled', () => settled(ben, 1), { timeoutMs: 60_000 })
      for (const n of annInbox) {
        const status = n.deliveries.map((d: any) => `${d.channel}:${d.status}`).sort()
        assert.deepEqual(status, ['alimtalk:sent', 'fcm:failed', 'fcm:sent', 'sms:sent'], n.kind)
        const failed = n.deliveries.find((d: any) => d.status === 'failed')
        assert.match(failed.lastError, /UNREGISTERED/)
      }
      for (const n of benInbox)
        assert.deepEqual(
          n.deliveries.map((d: any) => `${d.channel}:${d.status}`),
          ['fcm:sent'],
        )

      // AlimTalk: the NHN v2.3 request, one per notification, template codes per kind (one overridden), variables.
      const alim = nhn.recordsWhere((r) => r.path.startsWith('/alimtalk/'))
      assert.equal(alim.length, 2)
      const held = await app.db
        .selectFrom('reservations')
        .select(['id', 'expires_at'])
        .where('id', '=', annBuy.reservationId)
        .executeTakeFirstOrThrow()
      const seat = show.seats[0]!.label
      const byTemplate = new Map(alim.map((r) => [r.body.templateCode, r.body]))
      assert.deepEqual([...byTemplate.keys()].sort(), ['TICKET_PAID_V2', 'TICKET_SEAT_HELD'])
      for (const body of byTemplate.values()) {
        assert.equal(body.senderKey, SENDER_KEY)
        assert.equal(body.recipientList.length, 1)
        assert.equal(body.recipientList[0].recipientNo, '01030000001')
      }
      assert.deepEqual(byTemplate.get('TICKET_SEAT_HELD').recipientList[0].templateParameter, {
        concert: show.title,
        startsAt: inKorea(show.startsAt),
        seat,
        amount: '120,000',
        deadline: inKorea(held.expires_at.toISOString()),
      })
      assert.deepEqual(byTemplate.get('TICKET_PAID_V2').recipientList[0].templateParameter, {
        concert: show.title,
        startsAt: inKorea(show.startsAt),
        seat,
        amount: '120,000',
      })

      // SMS: opted in, to the verified number; the long texts go as LMS with the title.
      const texts = nhn.recordsWhere((r) => /\/sender\/(sms|mms)$/.test(r.path))
      assert.equal(texts.length, 2)
      for (const r of texts) {
        assert.deepEqual(r.body.recipientList, [{ recipientNo: '01030000001' }])
        const n = annInbox.find((x: any) => x.title === (r.body.title ?? /^\[(.*?)\]/.exec(r.body.body)?.[1]))
        assert.ok(n, `an SMS for a notification of Ann: ${JSON.stringify(r.body)}`)
        assert.ok(r.body.body.includes(n.body))
      }

      // FCM: an OAuth2 token from the service-account key, fetched once and reused; a push per live device.
      assert.equal(google.issued, 1, 'the access token is cached')
      const pushes = google.receiver.recordsWhere((r) => r.path.endsWith('/messages:send'))
      const toLive = pushes.filter((r) => r.body.message.token === live)
      const toBen = pushes.filter((r) => r.body.message.token === bens)
      assert.equal(toLive.length, 2)
      assert.equal(toBen.length, 2)
      for (const r of [...toLive, ...toBen]) {
        const m = r.body.message
        const n = [...annInbox, ...benInbox].find((x: any) => x.id === m.data.notificationId)
        assert.ok(n, 'data.notificationId names the inbox entry')
        assert.deepEqual(m.notification, { title: n.title, body: n.body })
        assert.equal(typeof m.data.eventId, 'string')
      }
      assert.ok(google.receiver.requests.some((r) => r.mode === 'ok' && r.path.endsWith('/messages:send')))
      // The first send met a 503 and was retried.
      assert.ok(
        google.receiver.requests.filter((r) => r.path.endsWith('/messages:send')).length > pushes.length,
      )

      // The uninstalled device answered UNREGISTERED and is gone; the live one stays.
      const devices = await app.api.get(`/users/${ann.id}/push-tokens`, { token: ann.token })
      assert.deepEqual(
        devices.body.pushTokens.map((d: any) => d.token),
        [live],
      )
      assert.ok(benBuy.reservationId)
      await quiesce(app)
      // A gone device is an outcome, not an operator's problem: no dead letter for it.
      const deadLetters = await app.api.get('/admin/dead-letters?group=notification-delivery', {
        headers: { 'x-admin-key': app.adminKey },
      })
      assert.deepEqual(deadLetters.body.deadLetters, [])
    })
  })
}
