import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { assertError, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

for (const kind of databaseKinds)
  describe(`notification preferences [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'prefs')
      api = new Api(t.url)
    })
    after(() => t.close())

    test('a user cannot point a channel at a URL of their choosing; a Telegram chat id is accepted', async () => {
      const fan = await signUp(api)
      const put = (preferences: unknown) =>
        api.request('PUT', `/users/${fan.id}/notification-preferences`, {
          token: fan.token,
          body: { preferences },
        })
      for (const channel of ['webhook', 'slack', 'discord', 'alimtalk', 'fcm', 'sms']) {
        const res = await put([{ channel, enabled: true, target: 'http://169.254.169.254/latest/meta-data' }])
        assert.equal(res.status, 400, channel)
        assert.equal(res.body.code, 'VALIDATION_FAILED')
      }
      assert.equal(
        (await put([{ channel: 'telegram', enabled: true, target: 'http://evil.example' }])).status,
        400,
      )
      const ok = await put([
        { channel: 'telegram', enabled: true, target: '123456' },
        { channel: 'slack', enabled: false, target: null },
      ])
      assert.equal(ok.status, 200)
      assert.deepEqual(ok.body.preferences, [
        { channel: 'slack', enabled: false, target: null },
        { channel: 'telegram', enabled: true, target: '123456' },
      ])
      const other = await signUp(api)
      const forbidden = await api.request('PUT', `/users/${fan.id}/notification-preferences`, {
        token: other.token,
        body: { preferences: [] },
      })
      assert.equal(forbidden.status, 403)
    })

    test('without an SMS channel a phone cannot be verified, and no channel is offered', async () => {
      const fan = await signUp(api)
      assertError(
        await api.post(`/users/${fan.id}/phone/verification`, {
          token: fan.token,
          body: { phoneNumber: '010-1234-5678' },
        }),
        503,
        'SMS_NOT_CONFIGURED',
      )
      const prefs = await api.get(`/users/${fan.id}/notification-preferences`, { token: fan.token })
      assert.deepEqual(prefs.body.channels, [], 'this test deployment configures no channel at all')
    })
  })
