import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

describe('notification preferences [pglite]', () => {
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp('pglite', 'prefs')
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
    for (const channel of ['webhook', 'slack', 'discord']) {
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
})
