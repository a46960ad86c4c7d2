import assert from 'node:assert/strict'
import { randomBytes, scryptSync } from 'node:crypto'
import { describe, test } from 'node:test'
import { createPasswordHasher, DEFAULT_SCRYPT, parseHash } from '../../src/auth/passwords.ts'
import { AppError } from '../../src/platform/errors.ts'

/** The hash Node's defaults wrote before parameters were stored: scrypt$<salt>$<hash>, N=2^14. */
function legacyHash(password: string): string {
  const salt = randomBytes(16)
  return `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`
}

describe('password hashing', () => {
  test('the default is N=2^17, r=8, p=1, and a hash stores its parameters', async () => {
    assert.deepEqual({ ...DEFAULT_SCRYPT }, { N: 131_072, r: 8, p: 1 })
    const hasher = createPasswordHasher({ concurrency: 1, queueLimit: 0 })
    const stored = await hasher.hash('correct horse battery')
    assert.match(stored, /^scrypt\$131072\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/)
    assert.deepEqual(await hasher.verify('correct horse battery', stored), { ok: true, outdated: false })
    assert.deepEqual(await hasher.verify('correct horse batterY', stored), { ok: false, outdated: false })
  })

  test('hashes of other parameters and legacy hashes verify, marked outdated', async () => {
    const cheap = createPasswordHasher({ params: { N: 2 ** 10, r: 8, p: 1 }, concurrency: 2, queueLimit: 10 })
    const current = createPasswordHasher({
      params: { N: 2 ** 12, r: 8, p: 1 },
      concurrency: 2,
      queueLimit: 10,
    })
    const old = await cheap.hash('pw-one')
    assert.deepEqual(parseHash(old)?.params, { N: 1024, r: 8, p: 1 })
    assert.deepEqual(await current.verify('pw-one', old), { ok: true, outdated: true })
    assert.deepEqual(await current.verify('pw-two', old), { ok: false, outdated: true })
    const legacy = legacyHash('pw-legacy')
    assert.deepEqual(parseHash(legacy)?.params, { N: 16_384, r: 8, p: 1 })
    assert.deepEqual(await current.verify('pw-legacy', legacy), { ok: true, outdated: true })
    assert.equal((await current.verify('nope', legacy)).ok, false)
  })

  test('an unknown account or an unreadable hash never verifies', async () => {
    const hasher = createPasswordHasher({ params: { N: 2 ** 10, r: 8, p: 1 }, concurrency: 1, queueLimit: 5 })
    assert.equal((await hasher.verify('anything', undefined)).ok, false)
    for (const stored of [
      'x',
      '',
      'scrypt$',
      'scrypt$3$8$1$aa$bb',
      'scrypt$1048577$8$1$aa$bb',
      'bcrypt$a$b',
    ]) {
      assert.equal((await hasher.verify('x', stored)).ok, false, stored)
    }
  })

  test('the pool runs at most `concurrency` hashes, queues `queueLimit`, and refuses the rest with Retry-After', async () => {
    const hasher = createPasswordHasher({ params: { N: 2 ** 14, r: 8, p: 1 }, concurrency: 1, queueLimit: 2 })
    let peak = 0
    const watch = setInterval(() => {
      peak = Math.max(peak, hasher.load().running)
    }, 1)
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => hasher.hash('pw')))
    clearInterval(watch)
    const refused = results.filter((r) => r.status === 'rejected')
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3)
    assert.equal(refused.length, 2)
    for (const r of refused) {
      const error = (r as PromiseRejectedResult).reason
      assert.ok(error instanceof AppError)
      assert.equal(error.code, 'PASSWORD_HASHING_BUSY')
      assert.equal(error.status, 503)
      assert.equal(error.retryAfterSeconds, 1)
    }
    assert.equal(peak, 1)
    assert.deepEqual(hasher.load(), { running: 0, waiting: 0 })
    assert.equal(hasher.idle(), true)
  })
})
