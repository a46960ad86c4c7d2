import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { relayBusyLingerMs, relayLingerMs } from '../../src/events/backbone.ts'
import { ConfigError, loadConfig } from '../../src/platform/config.ts'

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`)
    return error
  }
  assert.fail('expected a ConfigError')
}

describe('loadConfig', () => {
  test('an empty environment gives the documented defaults', () => {
    const config = loadConfig({})
    assert.equal(config.PORT, 3000)
    assert.equal(config.HOST, '127.0.0.1')
    assert.equal(config.LOG_LEVEL, 'info')
    assert.equal(config.DATABASE_URL, undefined)
    assert.equal(config.DATA_DIR, './data')
    assert.equal(config.DB_POOL_SIZE, 8)
    assert.equal(config.AUTH_SECRET, undefined)
    assert.equal(config.ADMIN_KEY, undefined)
    assert.equal(config.SEED_DEMO, 'auto')
    assert.equal(config.VACUUM, 'auto')
    assert.equal(config.VACUUM_INTERVAL_MS, 60_000)
    assert.equal(config.ROLES, 'api,relay,workers')
    assert.deepEqual([...config.roles].sort(), ['api', 'relay', 'workers'])
    assert.equal(config.ACCESS_TOKEN_TTL_SECONDS, 86_400)
    assert.equal(config.HOLD_TTL_SECONDS, 300)
    assert.equal(config.MAX_HOLDS_PER_USER, 4)
    assert.equal(config.QUEUE_MAX_ACTIVE, 200)
    assert.equal(config.QUEUE_ADMIT_PER_SECOND, 50)
    assert.equal(config.QUEUE_TOKEN_TTL_SECONDS, 600)
    assert.equal(config.QUEUE_TICK_MS, 500)
    assert.equal(config.EVENT_PARTITIONS, 1)
    assert.equal(config.YIELD_TO_FANS_MS, 30_000)
    assert.equal(loadConfig({ YIELD_TO_FANS_MS: '0' }).YIELD_TO_FANS_MS, 0)
  })

  test("the relay's linger: 30 ms on Kafka and none on the embedded log when unset; RELAY_LINGER_MS=0 turns it off", () => {
    const unset = loadConfig({}).RELAY_LINGER_MS
    assert.equal(relayLingerMs('kafka', unset), 30)
    assert.equal(relayLingerMs('local', unset), 0)
    assert.equal(relayLingerMs('kafka', loadConfig({ RELAY_LINGER_MS: '0' }).RELAY_LINGER_MS), 0)
    assert.equal(relayLingerMs('local', loadConfig({ RELAY_LINGER_MS: '20' }).RELAY_LINGER_MS), 20)
  })

  test("the relay's linger while the fans are busy: 100 ms on Kafka and none on the embedded log when unset", () => {
    const unset = loadConfig({}).RELAY_BUSY_LINGER_MS
    assert.equal(relayBusyLingerMs('kafka', unset), 100)
    assert.equal(relayBusyLingerMs('local', unset), 0)
    assert.equal(
      relayBusyLingerMs('kafka', loadConfig({ RELAY_BUSY_LINGER_MS: '0' }).RELAY_BUSY_LINGER_MS),
      0,
    )
    assert.throws(
      () => loadConfig({ RELAY_BUSY_LINGER_MS: '2000' }),
      /RELAY_BUSY_LINGER_MS: must be a whole number from 0 to 1000/,
    )
  })

  test('environment strings become typed values; empty ones mean unset', () => {
    const config = loadConfig({
      PORT: '8080',
      QUEUE_ADMIT_PER_SECOND: '2.5',
      DATABASE_URL: 'postgresql://u@db:5432/tickets',
      ROLES: 'api,workers',
      HOST: '',
    })
    assert.equal(config.PORT, 8080)
    assert.equal(config.QUEUE_ADMIT_PER_SECOND, 2.5)
    assert.equal(config.DATABASE_URL, 'postgresql://u@db:5432/tickets')
    assert.deepEqual([...config.roles].sort(), ['api', 'workers'])
    assert.equal(config.HOST, '127.0.0.1')
  })

  test('overrides win over the environment', () => {
    const config = loadConfig({ PORT: '8080', HOLD_TTL_SECONDS: '60' }, { PORT: 0, HOLD_TTL_SECONDS: 5 })
    assert.equal(config.PORT, 0)
    assert.equal(config.HOLD_TTL_SECONDS, 5)
  })

  test('unknown environment variables are ignored', () => {
    assert.equal(loadConfig({ PATH: '/usr/bin', HOME: '/root', NOT_OURS: 'x' }).PORT, 3000)
  })

  test('PORT=abc is refused with a message naming PORT and the value', () => {
    const error = configError(() => loadConfig({ PORT: 'abc' }))
    assert.match(error.message, /PORT/)
    assert.match(error.message, /abc/)
    assert.equal(error.name, 'ConfigError')
  })

  test('a non-PostgreSQL DATABASE_URL is refused naming DATABASE_URL', () => {
    const error = configError(() => loadConfig({ DATABASE_URL: 'mysql://x' }))
    assert.match(error.message, /DATABASE_URL/)
    assert.doesNotMatch(error.message, /\bPORT\b/)
  })

  test('out-of-range and malformed values each name their variable', () => {
    for (const [name, value] of [
      ['PORT', '70000'],
      ['PORT', '80.5'],
      ['LOG_LEVEL', 'loud'],
      ['ROLES', 'api,bogus'],
      ['SEED_DEMO', 'yes'],
      ['HOLD_TTL_SECONDS', '0'],
      ['MAX_HOLDS_PER_USER', '1000'],
      ['QUEUE_ADMIT_PER_SECOND', '0'],
      ['QUEUE_TOKEN_TTL_SECONDS', '5'],
      ['AUTH_SECRET', 'too-short'],
      ['ADMIN_KEY', 'short'],
    ] as const) {
      const error = configError(() => loadConfig({ [name]: value }))
      assert.match(error.message, new RegExp(name), `${name}=${value}: ${error.message}`)
    }
  })

  test('each refusal says in words what the variable must be, never a regular expression or a schema keyword', () => {
    for (const [name, value, expected] of [
      ['PORT', '70000', 'must be a whole number from 0 to 65535 (got "70000")'],
      ['ACCESS_TOKEN_TTL_SECONDS', '5', 'must be a whole number of at least 60 (got "5")'],
      ['QUEUE_ADMIT_PER_SECOND', '0', 'must be a number above 0 (got "0")'],
      ['LOG_LEVEL', 'loud', 'must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
      ['ROLES', 'api,bogus', 'must be one or more of api, relay, workers, separated by commas'],
      // (Not the brokers' variable: its name in a test file makes npm test start a Kafka cluster for the file.)
      ['INSTANCE_ID', 'pod 1', 'must be 1 to 100 letters, digits, dots, dashes or underscores (got "pod 1")'],
      ['RETRY_DELAYS_MS', '1s', 'must be 1 to 3 delays in milliseconds, separated by commas'],
      ['EVENT_PARTITIONS', '0', 'must be a whole number from 1 to 256 (got "0")'],
      ['EVENT_PARTITIONS', 'three', 'must be a whole number from 1 to 256 (got "three")'],
      ['YIELD_TO_FANS_MS', '-1', 'must be a whole number from 0 to 60000 (got "-1")'],
      ['YIELD_TO_FANS_MS', '3s', 'must be a whole number from 0 to 60000 (got "3s")'],
      ['VACUUM', 'yes', 'must be one of auto, on, off (got "yes")'],
      ['VACUUM_INTERVAL_MS', '10', 'must be a whole number of at least 50 (got "10")'],
      ['NOTIFY_WEBHOOK_URL', 'ftp://x', 'must be an http:// or https:// URL (got "ftp://x")'],
      ['DATABASE_URL', 'mysql://x', 'must be a postgres:// or postgresql:// URL'],
      ['SMS_SENDER_NUMBER', '010-1234', 'must be 4 to 13 digits, no dashes or spaces'],
    ] as const) {
      const error = configError(() => loadConfig({ [name]: value }))
      assert.ok(error.message.includes(`${name}: ${expected}`), `${name}=${value}: ${error.message}`)
      assert.doesNotMatch(error.message, /pattern|constant|\^|\$/, error.message)
    }
  })

  test('a refused secret is not repeated in the message, and a URL loses its password', () => {
    for (const [name, value] of [
      ['AUTH_SECRET', 'hunter2-is-my-secret'],
      ['ADMIN_KEY', 'hunter2'],
      ['METRICS_TOKEN', 'hunter2'],
      ['TOSS_SECRET_KEY', 'sk_hunter2'],
      ['DATA_PLATFORM_AUTH_HEADER', 'hunter2'],
    ] as const) {
      const error = configError(() => loadConfig({ [name]: value }))
      assert.match(error.message, new RegExp(`${name}: .*\\(got ${value.length} characters, not shown\\)`))
      assert.doesNotMatch(error.message, /hunter2/)
    }
    const error = configError(() => loadConfig({ DATABASE_URL: 'mysql://app:hunter2@db/tickets' }))
    assert.match(error.message, /\(got "mysql:\/\/app:\*\*\*@db\/tickets"\)/)
    assert.doesNotMatch(error.message, /hunter2/)
  })

  test('several bad variables are all reported at once', () => {
    const error = configError(() => loadConfig({ PORT: 'abc', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' }))
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL']) assert.match(error.message, new RegExp(name))
  })

  test('unknown override keys are refused, by name', () => {
    const error = configError(() => loadConfig({}, { PORT: 1, HOLD_TTL: 5 }))
    assert.match(error.message, /HOLD_TTL/)
  })

  test('the result is frozen', () => {
    const config = loadConfig({})
    assert.ok(Object.isFrozen(config))
    assert.throws(() => {
      ;(config as { PORT: number }).PORT = 1
    }, TypeError)
    assert.equal(config.PORT, 3000)
  })
})
