import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { errorCatalog } from '../../src/platform/errors.ts'
import { Api, type RawResponse, rawRequest } from '../support/api-client.ts'
import { assertError, signUp } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

/** Every error a client can cause, from the socket up to validation, answers with the catalog body and code. */
describe('client errors in the catalog [pglite]', () => {
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp('pglite', 'client-errors')
    api = new Api(t.url)
  })
  after(() => t.close())

  function assertCatalog(res: RawResponse, status: number, code: keyof typeof errorCatalog) {
    assert.equal(res.status, status, JSON.stringify(res))
    assert.equal(res.body?.code, code, JSON.stringify(res.body))
    assert.equal(typeof res.body.message, 'string')
    assert.match(res.headers['content-type'] ?? '', /^application\/json/)
  }

  const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`

  test('a bad percent-escape in the path answers 400 MALFORMED_URL', async () => {
    assertCatalog(await rawRequest(t.url, get('/users/%zz/wallet')), 400, 'MALFORMED_URL')
    assertCatalog(await rawRequest(t.url, get('/schedules/%E0%A4%A/seats')), 400, 'MALFORMED_URL')
  })

  test('an over-long path parameter answers 414 URI_TOO_LONG', async () => {
    assertCatalog(await rawRequest(t.url, get(`/users/${'a'.repeat(150)}/wallet`)), 414, 'URI_TOO_LONG')
  })

  test('an unknown method, on a connection without Connection: close, answers 400 BAD_REQUEST and closes', async () => {
    const res = await rawRequest(t.url, 'FOO /health HTTP/1.1\r\nhost: x\r\n\r\n')
    assertCatalog(res, 400, 'BAD_REQUEST')
    assert.equal(res.closed, true)
    assert.equal(res.headers.connection, 'close')
  })

  test('a request line that is not HTTP answers 400 BAD_REQUEST', async () => {
    assertCatalog(await rawRequest(t.url, 'hello there\r\n\r\n'), 400, 'BAD_REQUEST')
  })

  test('headers over the limit answer 431 HEADERS_TOO_LARGE with a body', async () => {
    const res = await rawRequest(
      t.url,
      `GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\nconnection: close\r\n\r\n`,
    )
    assertCatalog(res, 431, 'HEADERS_TOO_LARGE')
  })

  test('an unknown route or method on a known path answers 404 ROUTE_NOT_FOUND', async () => {
    assertError(await api.get('/no/such/route'), 404, 'ROUTE_NOT_FOUND')
    assertError(await api.request('PATCH', '/auth/sign-in', { body: {} }), 404, 'ROUTE_NOT_FOUND')
    assertCatalog(
      await rawRequest(t.url, 'PROPFIND /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
      404,
      'ROUTE_NOT_FOUND',
    )
  })

  test('a path parameter that is not a uuid answers 400 VALIDATION_FAILED naming it', async () => {
    const fan = await signUp(api)
    const res = await api.get('/users/not-a-uuid/wallet', { token: fan.token })
    assertError(res, 400, 'VALIDATION_FAILED')
    assert.equal(res.body.details.field, 'userId')
    assertError(await api.get('/schedules/12/seats'), 400, 'VALIDATION_FAILED')
  })

  test('malformed, empty or truncated JSON answers 400 MALFORMED_JSON', async () => {
    for (const raw of ['{', '{"email": }', 'nul', '"', '{"a":1}}']) {
      assertError(await api.post('/auth/sign-in', { raw }), 400, 'MALFORMED_JSON')
    }
    const empty = await api.post('/auth/sign-in', { raw: '' })
    assert.equal(empty.status, 400, JSON.stringify(empty.body))
    assert.ok(['MALFORMED_JSON', 'VALIDATION_FAILED'].includes(empty.body.code), empty.body.code)
  })

  test('a body that is not JSON answers 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await api.post('/auth/sign-in', { raw: 'email=a', headers: { 'content-type': type } })
      assertError(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
    }
  })

  test('a body over the limit answers 413 PAYLOAD_TOO_LARGE, sent or only announced', async () => {
    const big = JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(100_000) })
    assertError(await api.post('/auth/sign-in', { raw: big }), 413, 'PAYLOAD_TOO_LARGE')
    const announced = await rawRequest(
      t.url,
      'POST /auth/sign-in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\nconnection: close\r\n\r\n{',
    )
    assertCatalog(announced, 413, 'PAYLOAD_TOO_LARGE')
  })

  test('a content-length that does not match the body answers 400 in the catalog', async () => {
    const res = await rawRequest(
      t.url,
      'POST /auth/sign-in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: abc\r\nconnection: close\r\n\r\n{}',
    )
    assertCatalog(res, 400, 'BAD_REQUEST')
  })

  test('prototype poisoning in a body answers 400 in the catalog', async () => {
    const res = await api.post('/auth/sign-in', { raw: '{"__proto__": {"x": 1}, "email": "a@b.c"}' })
    assert.equal(res.status, 400, JSON.stringify(res.body))
    assert.ok(res.body.code in errorCatalog)
  })
})
