import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startTestApp, type TestApp } from '../support/test-app.ts'

/** The fan app and the console are served by the service itself, as fixed files under a strict CSP. */
describe('web app and console files', () => {
  let t: TestApp
  before(async () => {
    t = await startTestApp('pglite', 'web_static')
  })
  after(() => t.close())

  test('/ and /dashboard are HTML with a CSP that allows no inline script; their files are served', async () => {
    for (const path of ['/', '/dashboard']) {
      const res = await fetch(`${t.url}${path}`)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
      const csp = res.headers.get('content-security-policy') ?? ''
      assert.match(csp, /script-src 'self'(;|$)/)
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
      assert.doesNotMatch(await res.text(), /<script>(?!<\/script>)|<style>|\son[a-z]+="/)
    }
    for (const [path, type] of [
      ['/app/main.js', /^text\/javascript/],
      ['/app/app.css', /^text\/css/],
      ['/dashboard/console.js', /^text\/javascript/],
    ] as const) {
      const res = await fetch(`${t.url}${path}`)
      assert.equal(res.status, 200, path)
      assert.match(res.headers.get('content-type') ?? '', type)
    }
  })

  test('only the app files exist: anything else under /app is 404 with the error body', async () => {
    for (const path of [
      '/app/nope.js',
      '/app/..%2Fweb-routes.ts',
      '/app/%2e%2e%2fpackage.json',
      '/app/index.ts',
    ]) {
      const res = await fetch(`${t.url}${path}`)
      assert.equal(res.status, 404, path)
      assert.equal(((await res.json()) as { code: string }).code, 'ROUTE_NOT_FOUND')
    }
  })
})
