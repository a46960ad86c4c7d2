import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { documentHeaders, securityHeaders } from '../../src/platform/security-headers.ts'
import { Api, rawRequest } from '../support/api-client.ts'
import { signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

/** Security headers, the dashboard's policy, the request timeout and the metrics token. */
describe('HTTP hardening [pglite]', () => {
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp('pglite', 'http-hardening', {
      REQUEST_TIMEOUT_MS: 500,
      METRICS_TOKEN,
    })
    api = new Api(t.url)
  })
  after(() => t.close())

  function assertSecurityHeaders(headers: Headers | Record<string, string>, what: string) {
    const get = (name: string) => (headers instanceof Headers ? headers.get(name) : (headers[name] ?? null))
    assert.equal(get('x-content-type-options'), 'nosniff', what)
    assert.equal(get('x-frame-options'), 'DENY', what)
    assert.equal(get('referrer-policy'), 'no-referrer', what)
    assert.match(get('content-security-policy') ?? '', /frame-ancestors 'none'/, what)
    assert.match(get('strict-transport-security') ?? '', /max-age=\d+/, what)
  }

  test('every response carries the security headers: success, 4xx, 404, parser errors, raw socket errors', async () => {
    const fan = await signUp(api)
    const answers = {
      health: await api.get('/health'),
      wallet: await api.get(`/users/${fan.id}/wallet`, { token: fan.token }),
      unauthenticated: await api.get(`/users/${fan.id}/wallet`),
      notFound: await api.get('/nope'),
      malformed: await api.post('/auth/sign-in', { raw: '{' }),
    }
    for (const [what, res] of Object.entries(answers)) {
      assertSecurityHeaders(res.headers, what)
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/, what)
    }
    const badUrl = await rawRequest(
      t.url,
      'GET /users/%zz/wallet HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    )
    assert.equal(badUrl.body.code, 'MALFORMED_URL')
    assertSecurityHeaders(badUrl.headers, 'bad url')
    const notHttp = await rawRequest(t.url, 'FOO / HTTP/1.1\r\nhost: x\r\n\r\n')
    assert.equal(notHttp.body.code, 'BAD_REQUEST')
    assertSecurityHeaders(notHttp.headers, 'not http')
  })

  test("JSON answers carry the API's headers; the HTML pages (fan app, console, docs) add a document's", async () => {
    const json = await api.get('/health')
    for (const [name, value] of Object.entries(securityHeaders))
      assert.equal(json.headers.get(name), value, `/health ${name}`)
    for (const name of Object.keys(documentHeaders))
      assert.equal(json.headers.get(name), null, `/health ${name}`)
    for (const path of ['/', '/dashboard', '/docs/static/index.html']) {
      const page = await fetch(`${t.url}${path}`)
      assert.equal(page.status, 200, path)
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/, path)
      for (const [name, value] of Object.entries(documentHeaders))
        assert.equal(page.headers.get(name), value, `${path} ${name}`)
      // the docs' own policy lets them be framed by their own origin
      if (path !== '/docs/static/index.html') assertSecurityHeaders(page.headers, path)
    }
  })

  test('/dashboard has a CSP that loads only its own files and allows nothing inline', async () => {
    const res = await api.get('/dashboard')
    assert.equal(res.status, 200)
    assertSecurityHeaders(res.headers, 'dashboard')
    const policy = res.headers.get('content-security-policy') ?? ''
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|sha256-/)
    assert.match(policy, /script-src 'self'/)
    assert.match(policy, /style-src 'self'/)
    assert.match(policy, /connect-src 'self'/)
    assert.match(policy, /frame-ancestors 'none'/)
    // the page itself carries no inline script or style for the policy to refuse
    const html = readFileSync(new URL('../../src/ops/console/dashboard.html', import.meta.url), 'utf8')
    assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|<style|\son[a-z]+=|\sstyle=/i)
  })

  test('/docs pages carry their own policy for the Swagger UI assets', async () => {
    const res = await api.get('/docs/static/index.html')
    assert.equal(res.status, 200)
    const policy = res.headers.get('content-security-policy') ?? ''
    assert.match(policy, /script-src 'self'/)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
  })

  test('a body that never finishes is answered 408 REQUEST_TIMEOUT and its connection closed', async () => {
    const res = await rawRequest(
      t.url,
      'POST /auth/sign-in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"email":',
      10_000,
    )
    assert.equal(res.closed, true, 'the server closed the connection')
    assert.equal(res.status, 408, JSON.stringify(res))
    assert.equal(res.body.code, 'REQUEST_TIMEOUT')
    const headersOnly = await rawRequest(t.url, 'GET /health HTTP/1.1\r\nhost: x\r\n', 10_000)
    assert.equal(headersOnly.closed, true, 'headers that never end are cut off too')
    assert.equal((await api.get('/health')).status, 200, 'the service is fine')
  })

  test('/metrics needs the metrics token when one is configured', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${METRICS_TOKEN}x`, METRICS_TOKEN]) {
      const res = await api.get('/metrics', authorization ? { headers: { authorization } } : {})
      assert.equal(res.status, 401, String(authorization))
      assert.equal(res.body.code, 'METRICS_TOKEN_INVALID')
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/)
    }
    const ok = await api.get('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    assert.equal(ok.status, 200)
    assert.match(String(ok.body), /http_request_duration_seconds/)
  })
})
