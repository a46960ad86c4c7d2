import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createAttemptLimiter } from '../../src/auth/attempt-limiter.ts'
import { AppError } from '../../src/platform/errors.ts'

function refusal(fn: () => void): AppError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof AppError)
    return error
  }
  assert.fail('not refused')
}

describe('attempt limiter', () => {
  test('allows `limit` attempts per key per window, then refuses with the time left, then allows again', () => {
    let now = 1_000_000
    const limiter = createAttemptLimiter({ limit: 3, windowMs: 60_000, scope: 'account', now: () => now })
    for (let i = 0; i < 3; i++) limiter.take('a')
    limiter.take('b')
    now += 20_500
    const error = refusal(() => limiter.take('a'))
    assert.equal(error.code, 'RATE_LIMITED')
    assert.equal(error.status, 429)
    assert.equal(error.retryAfterSeconds, 40)
    assert.deepEqual(error.details, { scope: 'account', retryAfterSeconds: 40 })
    limiter.take('b')
    now += 39_500
    limiter.take('a')
  })

  test('remembers at most maxKeys keys, dropping the oldest windows first', () => {
    let now = 0
    const limiter = createAttemptLimiter({
      limit: 1,
      windowMs: 1000,
      scope: 'address',
      maxKeys: 3,
      now: () => now,
    })
    limiter.take('k1')
    now++
    limiter.take('k2')
    limiter.take('k3')
    limiter.take('k4') // k1 is dropped to make room
    limiter.take('k1')
    refusal(() => limiter.take('k4'))
  })
})
