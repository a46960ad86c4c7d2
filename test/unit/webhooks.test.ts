import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { nextDelayMs, parseRetryAfter } from '../../src/webhooks/retry-schedule.ts'
import { generateSecret, sign, signatureHeaders } from '../../src/webhooks/signing.ts'
import { isPublicAddress, urlProblem } from '../../src/webhooks/ssrf-guard.ts'

describe('Standard Webhooks signatures', () => {
  test('the reference library (standardwebhooks on npm) verifies what we sign', () => {
    const secret = generateSecret()
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/, '32 random bytes, base64, whsec_ prefix')
    const body = JSON.stringify({
      type: 'reservation.confirmed',
      timestamp: new Date().toISOString(),
      data: { a: 1 },
    })
    const now = Math.floor(Date.now() / 1000)
    const headers = signatureHeaders([secret], '0190f0a0-0000-7000-8000-000000000001', now, body)
    assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body))
    // the library's own signature is the same string
    assert.equal(
      headers['webhook-signature'],
      new Webhook(secret).sign(headers['webhook-id'], new Date(now * 1000), body),
    )
  })

  test('during a rotation both secrets sign; a receiver holding either verifies, a stranger does not', () => {
    const [older, newer] = [generateSecret(), generateSecret()]
    const body = '{"type":"coupon.issued"}'
    const now = Math.floor(Date.now() / 1000)
    const headers = signatureHeaders([newer, older], 'evt-1', now, body)
    assert.equal(headers['webhook-signature'].split(' ').length, 2)
    assert.ok(new Webhook(older).verify(body, headers))
    assert.ok(new Webhook(newer).verify(body, headers))
    assert.throws(() => new Webhook(generateSecret()).verify(body, headers))
  })

  test('a changed body, id or timestamp breaks the signature', () => {
    const secret = generateSecret()
    const s = sign(secret, 'id', 1700000000, '{}')
    assert.notEqual(s, sign(secret, 'id', 1700000000, '{ }'))
    assert.notEqual(s, sign(secret, 'id2', 1700000000, '{}'))
    assert.notEqual(s, sign(secret, 'id', 1700000001, '{}'))
  })
})

describe('webhook SSRF guard', () => {
  test('loopback, private, CGNAT, link-local (metadata), unique-local and special ranges are not public', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '169.254.169.254',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00:ec2::254',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '64:ff9b::a00:1',
      '2001:db8::1',
      '224.0.0.1',
      '255.255.255.255',
    ]) {
      assert.equal(isPublicAddress(a), false, a)
    }
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111'])
      assert.equal(isPublicAddress(a), true, a)
  })

  test('only https, no credentials, no literal private address unless private addresses are allowed', () => {
    const strict = { allowPrivate: false }
    assert.match(urlProblem(new URL('http://93.184.215.14/'), strict) ?? '', /https/)
    assert.match(urlProblem(new URL('https://u:p@93.184.215.14/'), strict) ?? '', /credentials/)
    assert.match(urlProblem(new URL('https://[::1]/hook'), strict) ?? '', /not a public/)
    assert.match(urlProblem(new URL('https://169.254.169.254/latest'), strict) ?? '', /not a public/)
    assert.equal(urlProblem(new URL('https://93.184.215.14/hook'), strict), undefined)
    assert.equal(urlProblem(new URL('http://127.0.0.1:8080/hook'), { allowPrivate: true }), undefined)
  })
})

describe('webhook retry schedule', () => {
  const settings = { baseMs: 5_000, maxDelayMs: 6 * 3_600_000 }
  test('doubles from the base, within ±20 % jitter, capped', () => {
    const mid = () => 0.5
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => nextDelayMs(n, settings, undefined, mid)),
      [5_000, 10_000, 20_000, 40_000, 80_000],
    )
    assert.equal(nextDelayMs(40, settings, undefined, mid), settings.maxDelayMs)
    assert.equal(
      nextDelayMs(1, settings, undefined, () => 0),
      4_000,
    )
    assert.equal(
      nextDelayMs(1, settings, undefined, () => 0.999999),
      6_000,
    )
    // the sum of a schedule reaches three days in a bounded number of attempts
    let total = 0
    let n = 0
    while (total < 3 * 86_400_000) total += nextDelayMs(++n, settings, undefined, mid)
    assert.ok(n > 10 && n < 30, `${n} attempts in three days`)
  })

  test('a Retry-After asking for longer is honoured, within the cap', () => {
    assert.equal(
      nextDelayMs(1, settings, 60_000, () => 0.5),
      60_000,
    )
    assert.equal(
      nextDelayMs(1, settings, 10 * 86_400_000, () => 0.5),
      settings.maxDelayMs,
    )
    assert.equal(parseRetryAfter('120'), 120_000)
    assert.equal(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString(), Date.now()) !== undefined, true)
    assert.equal(parseRetryAfter('soon'), undefined)
  })
})
