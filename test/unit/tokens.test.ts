import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { createTokenService, rememberVerified, signing } from '../../src/auth/tokens.ts'
import { AppError } from '../../src/platform/errors.ts'

const secret = randomBytes(32).toString('hex')
const tokens = createTokenService(secret, 3600)

function assertAppError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected AppError, got ${error}`)
    assert.equal(error.code, code)
    return true
  })
}

/** Same header and payload, another signature (the first signature character changes all its leading bits). */
function forge(token: string): string {
  const [header, payload, signature] = token.split('.')
  assert.ok(header && payload && signature)
  const first = signature[0] === 'A' ? 'B' : 'A'
  return `${header}.${payload}.${first}${signature.slice(1)}`
}

function inFuture(seconds: number): Date {
  return new Date(Date.now() + seconds * 1000)
}

describe('access tokens', () => {
  test('round-trip to the user id', () => {
    const userId = randomUUID()
    assert.equal(tokens.verifyAccess(tokens.signAccess(userId)), userId)
  })

  test('a forged signature, garbage, or another secret give UNAUTHENTICATED', () => {
    const token = tokens.signAccess(randomUUID())
    assertAppError(() => tokens.verifyAccess(forge(token)), 'UNAUTHENTICATED')
    assertAppError(() => tokens.verifyAccess('garbage'), 'UNAUTHENTICATED')
    assertAppError(() => tokens.verifyAccess(''), 'UNAUTHENTICATED')
    const other = createTokenService(randomBytes(32).toString('hex'), 3600)
    assertAppError(() => tokens.verifyAccess(other.signAccess(randomUUID())), 'UNAUTHENTICATED')
  })

  test('a queue token is not an access token', () => {
    const queueToken = tokens.signQueue({
      userId: randomUUID(),
      scheduleId: randomUUID(),
      expiresAt: inFuture(60),
    })
    assertAppError(() => tokens.verifyAccess(queueToken), 'UNAUTHENTICATED')
  })

  test('an access token past its lifetime gives UNAUTHENTICATED and says it expired, remembered or not', (t) => {
    const token = tokens.signAccess(randomUUID())
    const remembered = tokens.signAccess(randomUUID())
    tokens.verifyAccess(remembered)
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 3601_000 })
    for (const t of [token, remembered]) {
      assert.throws(
        () => tokens.verifyAccess(t),
        (error: unknown) =>
          error instanceof AppError && error.code === 'UNAUTHENTICATED' && /expired/.test(error.message),
      )
    }
  })
})

describe('remembered verifications', () => {
  const counting = () => {
    const calls: string[] = []
    const verify = (token: string) => {
      calls.push(token)
      if (token.startsWith('bad')) throw new Error('forged')
      return { sub: token, exp: token.startsWith('short') ? Math.floor(Date.now() / 1000) + 1 : undefined }
    }
    return { calls, verify }
  }

  test('a token verified once is answered from memory, the same claims', () => {
    const { calls, verify } = counting()
    const remembered = rememberVerified(verify).verify
    const first = remembered('a')
    assert.equal(remembered('a'), first)
    assert.equal(remembered('b').sub, 'b')
    assert.deepEqual(calls, ['a', 'b'])
  })

  test('a token that fails is verified (and fails) every time', () => {
    const { calls, verify } = counting()
    const remembered = rememberVerified(verify).verify
    assert.throws(() => remembered('bad'), /forged/)
    assert.throws(() => remembered('bad'), /forged/)
    assert.deepEqual(calls, ['bad', 'bad'])
  })

  test('a remembered token whose exp has come is verified again', (t) => {
    const { calls, verify } = counting()
    const remembered = rememberVerified(verify).verify
    remembered('short')
    remembered('short')
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 2_000 })
    remembered('short')
    assert.deepEqual(calls, ['short', 'short'])
  })

  test('memory is two generations of `size`: the oldest tokens are verified again, recent ones are not', () => {
    const { calls, verify } = counting()
    const remembered = rememberVerified(verify, 3).verify
    for (const token of ['1', '2', '3', '4', '5', '6', '7']) remembered(token)
    calls.length = 0
    // '7' opened a third generation: '1'-'3' are gone, '4'-'6' are the older one, '7' the young one.
    for (const token of ['7', '6', '4', '1']) remembered(token)
    assert.deepEqual(calls, ['1'])
  })

  test('a token signed here is answered from memory until its exp comes, then verified', (t) => {
    const { calls, verify } = counting()
    const memory = rememberVerified(verify)
    const claims = { sub: 'u', exp: Math.floor(Date.now() / 1000) + 1 }
    memory.remember('signed', claims)
    assert.equal(memory.verify('signed'), claims)
    assert.deepEqual(calls, [])
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 2_000 })
    memory.verify('signed')
    assert.deepEqual(calls, ['signed'])
  })

  test('a signer remembers each token with the claims it carries, exp and iat included', () => {
    const remembered: [string, Record<string, unknown>][] = []
    const sign = signing(
      { key: 'k'.repeat(32), algorithm: 'HS256', expiresIn: 60_000 },
      {
        verify: () => assert.fail('not asked'),
        remember: (token, claims) => remembered.push([token, claims]),
      },
    )
    const token = sign({ sub: 'u', typ: 'access' })
    assert.equal(remembered.length, 1)
    const [signed, claims] = remembered[0]!
    assert.equal(signed, token)
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    assert.deepEqual(JSON.parse(JSON.stringify(claims)), payload)
    assert.equal(payload.exp - payload.iat, 60)
  })
})

describe('queue tokens', () => {
  test('round-trip to user, schedule and expiry (whole seconds)', () => {
    const claims = {
      userId: randomUUID(),
      scheduleId: randomUUID(),
      expiresAt: new Date(Date.now() + 600_500),
    }
    const back = tokens.verifyQueue(tokens.signQueue(claims))
    assert.equal(back.userId, claims.userId)
    assert.equal(back.scheduleId, claims.scheduleId)
    assert.equal(back.expiresAt.getTime(), Math.floor(claims.expiresAt.getTime() / 1000) * 1000)
  })

  test('a forged signature, garbage, or another secret give QUEUE_TOKEN_INVALID', () => {
    const token = tokens.signQueue({
      userId: randomUUID(),
      scheduleId: randomUUID(),
      expiresAt: inFuture(60),
    })
    assertAppError(() => tokens.verifyQueue(forge(token)), 'QUEUE_TOKEN_INVALID')
    assertAppError(() => tokens.verifyQueue('not.a.token'), 'QUEUE_TOKEN_INVALID')
    const other = createTokenService(randomBytes(32).toString('hex'), 3600)
    const foreign = other.signQueue({
      userId: randomUUID(),
      scheduleId: randomUUID(),
      expiresAt: inFuture(60),
    })
    assertAppError(() => tokens.verifyQueue(foreign), 'QUEUE_TOKEN_INVALID')
  })

  test('an access token used as a queue token gives QUEUE_TOKEN_INVALID', () => {
    assertAppError(() => tokens.verifyQueue(tokens.signAccess(randomUUID())), 'QUEUE_TOKEN_INVALID')
  })

  test('an expired queue token gives QUEUE_TOKEN_EXPIRED', () => {
    const expired = tokens.signQueue({
      userId: randomUUID(),
      scheduleId: randomUUID(),
      expiresAt: new Date(Date.now() - 5_000),
    })
    assertAppError(() => tokens.verifyQueue(expired), 'QUEUE_TOKEN_EXPIRED')
  })

  test('a token accepted once is refused once it expires (the verifier cache respects expiry)', (t) => {
    const token = tokens.signQueue({
      userId: randomUUID(),
      scheduleId: randomUUID(),
      expiresAt: inFuture(30),
    })
    assert.ok(tokens.verifyQueue(token))
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 31_000 })
    assertAppError(() => tokens.verifyQueue(token), 'QUEUE_TOKEN_EXPIRED')
  })

  test('a token signed by the same secret in another service instance is accepted (stateless)', () => {
    const again = createTokenService(secret, 3600)
    const claims = { userId: randomUUID(), scheduleId: randomUUID(), expiresAt: inFuture(60) }
    assert.equal(again.verifyQueue(tokens.signQueue(claims)).userId, claims.userId)
  })
})
