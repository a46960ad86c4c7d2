import Type, { type Static } from 'typebox'
import Value from 'typebox/value'
import { FANS_BUSY_AT } from './fan-load.ts'

const Roles = ['api', 'relay', 'workers'] as const

/** Every setting the service reads from the environment; names are the environment variable names. */
export const ConfigSchema = Type.Object(
  {
    PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port' }),
    HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'HTTP bind address' }),
    LOG_LEVEL: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
    DATABASE_URL: Type.Optional(
      Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL URL; PGlite when absent' }),
    ),
    DATA_DIR: Type.String({ minLength: 1, default: './data', description: 'PGlite data folder' }),
    // 8 measured best on the 2-core benchmark machine, PostgreSQL beside the service (holds, payments and queue
    // entries did as well or better than with 12 or 20, with shorter tails): past the server's cores, more sessions
    // only queue on its locks and CPU. Raise it for a PostgreSQL server with more cores. Half of it (rounded down) is
    // the fans' routines' own connections (DatabaseHandle.routinePool), the rest everything else's.
    DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 8 }),
    DB_WAIT_SECONDS: Type.Integer({
      minimum: 0,
      maximum: 3600,
      default: 60,
      description: 'at start, how long to wait for a PostgreSQL server that does not answer yet',
    }),
    AUTH_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'HMAC secret for tokens' })),
    ADMIN_KEY: Type.Optional(Type.String({ minLength: 16, description: 'key for organizer endpoints' })),
    SEED_DEMO: Type.Union([Type.Literal('auto'), Type.Literal('true'), Type.Literal('false')], {
      default: 'auto',
    }),
    ROLES: Type.String({
      pattern: `^(${Roles.join('|')})(,(${Roles.join('|')}))*$`,
      expected: `one or more of ${Roles.join(', ')}, separated by commas`,
      default: Roles.join(','),
    }),
    LISTEN_SOCKETS: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 16,
      description:
        'listening sockets sharing the HTTP port (SO_REUSEPORT, Linux only; one elsewhere): each takes one new connection per event-loop turn',
    }),
    REQUEST_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 30_000,
      description: 'a request (headers and body) must arrive within this, or it is answered 408 and closed',
    }),
    METRICS_TOKEN: Type.Optional(
      Type.String({
        minLength: 16,
        description: '/metrics then needs "Authorization: Bearer <token>"; public when unset',
      }),
    ),
    PASSWORD_HASH_COST: Type.Integer({
      minimum: 10,
      maximum: 20,
      default: 17,
      description: 'scrypt N = 2^cost (r=8, p=1) for new hashes; older hashes are redone at sign-in',
    }),
    PASSWORD_HASH_CONCURRENCY: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 2,
      description: 'password hashes running at once per instance (each takes 128 MiB at cost 17)',
    }),
    PASSWORD_HASH_QUEUE: Type.Integer({
      minimum: 0,
      maximum: 100_000,
      default: 32,
      description: 'hashes waiting beyond those; more answer 503 PASSWORD_HASHING_BUSY',
    }),
    AUTH_RATE_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
    AUTH_RATE_PER_ADDRESS: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'sign-in and sign-up attempts per client address per window, per instance',
    }),
    AUTH_RATE_PER_ACCOUNT: Type.Integer({
      minimum: 1,
      default: 10,
      description: 'sign-in and sign-up attempts per e-mail address per window, per instance',
    }),
    DEMO_TOP_UP: Type.Union([Type.Literal('auto'), Type.Literal('true'), Type.Literal('false')], {
      default: 'auto',
      description:
        'fans may charge free points to their own wallet (a demo); auto: on with PGlite (the embedded demo) only',
    }),
    TOSS_SECRET_KEY: Type.Optional(
      Type.String({
        pattern: '^(test|live)_g?sk_[A-Za-z0-9]{8,200}$',
        expected: 'a Toss Payments secret key, test_sk_… or live_sk_…',
        description: 'Toss Payments secret key (test_sk_… or live_sk_…); paid top-ups are on when set',
      }),
    ),
    TOSS_API_URL: Type.String({ pattern: '^https?://', default: 'https://api.tosspayments.com' }),
    TOSS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 30_000 }),
    ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, default: 86_400 }),
    HOLD_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
    SEAT_CACHE_TTL_MS: Type.Integer({
      minimum: 0,
      maximum: 5000,
      default: 2000,
      description:
        "above 0, an instance answers a taken seat from its memory of seats, until the hold's own deadline (0: always ask the database)",
    }),
    MAX_HOLDS_PER_USER: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
    QUEUE_MAX_ACTIVE: Type.Integer({ minimum: 1, default: 200, description: 'admitted fans at once' }),
    QUEUE_ADMIT_PER_SECOND: Type.Number({ exclusiveMinimum: 0, default: 50 }),
    QUEUE_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 10, default: 600 }),
    QUEUE_TICK_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 500 }),
    STREAMS_MAX_PER_INSTANCE: Type.Integer({
      minimum: 0,
      default: 10_000,
      description:
        'open push streams (seat map and waiting room) one instance serves at once; more are refused with 503',
    }),
    OPS_SAMPLE_MS: Type.Integer({
      minimum: 100,
      maximum: 60_000,
      default: 5000,
      description: 'how often the console figures (the last 15 minutes, GET /admin/ops/series) are sampled',
    }),
    STREAM_HEARTBEAT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 15_000 }),
    KAFKA_BROKERS: Type.Optional(
      Type.String({
        pattern: '^[^,\\s]+:[0-9]+(,[^,\\s]+:[0-9]+)*$',
        expected: 'host:port of each broker, separated by commas, like kafka-1:9092,kafka-2:9092',
        description: 'host:port list; the embedded transport when absent',
      }),
    ),
    KAFKA_CLIENT_ID: Type.String({ minLength: 1, default: 'ticketing' }),
    KAFKA_WAIT_SECONDS: Type.Integer({
      minimum: 0,
      maximum: 3600,
      default: 60,
      description: 'at start, how long to wait for Kafka brokers that do not answer yet',
    }),
    KAFKA_TOPIC_PREFIX: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$',
        expected: 'up to 100 letters, digits, dots, dashes or underscores, not starting with a dot',
        description:
          'topics and consumer groups live under this prefix (<prefix>.reservation.held), so environments can share a cluster',
      }),
    ),
    INSTANCE_ID: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9._-]{1,100}$',
        expected: '1 to 100 letters, digits, dots, dashes or underscores',
        description:
          'a stable name of this instance (for example the pod name): Kafka static membership, so a restarted instance takes its partitions back at once',
      }),
    ),
    RELAY_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 50_000, default: 2000 }),
    EVENT_PARTITIONS: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 1,
      description:
        'partitions of each event topic the service creates at its first start (topics that exist keep theirs): as many as the instances that should run one consumer group at once; each partition that takes appends costs the brokers on every publish',
    }),
    RELAY_LINGER_MS: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1000,
        description:
          'after a relay batch that did not fill, begin the next publish no sooner than this after the last one began, so a stream of events goes out in fewer, larger publishes; 30 on Kafka, 0 on the embedded transport when absent',
      }),
    ),
    RELAY_BUSY_LINGER_MS: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1000,
        description: `the relay's linger while ${FANS_BUSY_AT} or more fans' holds, payments, queue entries or coupon requests are in flight on the instance (the longer of it and RELAY_LINGER_MS counts); 100 on Kafka, 0 on the embedded transport when absent`,
      }),
    ),
    YIELD_TO_FANS_MS: Type.Integer({
      minimum: 0,
      maximum: 60_000,
      default: 30_000,
      description: `on PostgreSQL, while ${FANS_BUSY_AT} or more fans' holds, payments, queue entries or coupon requests are in flight on the instance, the side effects no fan waits for (notifications, rankings, webhooks, the data platform) wait for them, this long at most at a time, and so does the fetching of holds' expiries when a hold lasts at least twice this (each is still ended when due); 0: never`,
    }),
    DATA_PLATFORM_URL: Type.Optional(
      Type.String({ pattern: '^https?://', description: 'reservation sync target' }),
    ),
    DATA_PLATFORM_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 120_000, default: 3000 }),
    DATA_PLATFORM_AUTH_HEADER: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9-]+:\\s*\\S.*$',
        expected: 'one header line, like "Authorization: Bearer <token>"',
        description: 'e.g. "Authorization: Bearer <token>"',
      }),
    ),
    NOTIFY_WEBHOOK_URL: Type.Optional(
      Type.String({ pattern: '^https?://', description: 'generic JSON webhook' }),
    ),
    SLACK_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
    DISCORD_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
    TELEGRAM_BOT_TOKEN: Type.Optional(Type.String({ minLength: 10 })),
    TELEGRAM_API_URL: Type.String({ pattern: '^https?://', default: 'https://api.telegram.org' }),
    NOTIFY_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 3000 }),
    SWEEP_INTERVAL_MS: Type.Integer({
      minimum: 100,
      default: 30_000,
      description: 'reconciliation sweep period',
    }),
    EXPIRY_GRACE_SECONDS: Type.Integer({
      minimum: 0,
      default: 5,
      description: 'sweep only holds lapsed this long',
    }),
    REFUND_CUTOFF_HOURS: Type.Number({
      minimum: 0,
      maximum: 8760,
      default: 24,
      description:
        'fans may refund a paid seat until this many hours before the show (the organizer at any time)',
    }),
    WAITLIST_OFFER_MINUTES: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1440,
      default: 15,
      description:
        'how long a seat offered to a waiting-list fan is theirs alone (fractions allowed: 0.05 is 3 s)',
    }),
    RETRY_DELAYS_MS: Type.String({
      pattern: '^[0-9]+(,[0-9]+){0,2}$',
      expected: '1 to 3 delays in milliseconds, separated by commas, like 1000,10000,60000',
      default: '1000,10000,60000',
      description: 'delays of the retry topics (at most three stages), comma-separated ms',
    }),

    // --- Organizer webhooks, Korean notification channels (KakaoTalk AlimTalk, FCM, SMS) and retention ---
    WEBHOOKS_ALLOW_PRIVATE: Type.Union([Type.Literal('true'), Type.Literal('false')], {
      default: 'false',
      description: 'allow http and loopback/private webhook URLs (tests and closed networks only)',
    }),
    WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 15_000 }),
    WEBHOOK_CONCURRENCY: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 32,
      description: 'per instance',
    }),
    WEBHOOK_ENDPOINT_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
    WEBHOOK_POLL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
    WEBHOOK_RETRY_BASE_MS: Type.Integer({ minimum: 10, default: 5000 }),
    WEBHOOK_RETRY_MAX_DELAY_MS: Type.Integer({ minimum: 10, default: 21_600_000 }),
    WEBHOOK_RETRY_FOR_SECONDS: Type.Integer({ minimum: 1, default: 259_200, description: 'then failed' }),
    WEBHOOK_DISABLE_AFTER_SECONDS: Type.Integer({
      minimum: 1,
      default: 259_200,
      description: 'an endpoint failing this long without a success is disabled',
    }),
    WEBHOOK_SECRET_GRACE_SECONDS: Type.Integer({ minimum: 0, default: 86_400 }),
    ALIMTALK_API_URL: Type.String({ pattern: '^https?://', default: 'https://api-alimtalk.cloud.toast.com' }),
    ALIMTALK_APP_KEY: Type.Optional(Type.String({ minLength: 1 })),
    ALIMTALK_SECRET_KEY: Type.Optional(Type.String({ minLength: 1 })),
    ALIMTALK_SENDER_KEY: Type.Optional(Type.String({ minLength: 1 })),
    ALIMTALK_TEMPLATES: Type.Optional(
      Type.String({
        pattern: '^[a-z-]+=[A-Za-z0-9_-]+(,[a-z-]+=[A-Za-z0-9_-]+)*$',
        expected: 'kind=TEMPLATE_CODE pairs separated by commas, like payment-confirmed=TPL001',
        description: 'kind=CODE,…',
      }),
    ),
    FCM_SERVICE_ACCOUNT: Type.Optional(
      Type.String({ minLength: 2, description: 'service-account key JSON, or the path of its file' }),
    ),
    FCM_API_URL: Type.String({ pattern: '^https?://', default: 'https://fcm.googleapis.com' }),
    FCM_TOKEN_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
    SMS_API_URL: Type.String({ pattern: '^https?://', default: 'https://api-sms.cloud.toast.com' }),
    SMS_APP_KEY: Type.Optional(Type.String({ minLength: 1 })),
    SMS_SECRET_KEY: Type.Optional(Type.String({ minLength: 1 })),
    SMS_SENDER_NUMBER: Type.Optional(
      Type.String({ pattern: '^[0-9]{4,13}$', expected: '4 to 13 digits, no dashes or spaces' }),
    ),
    PHONE_CODE_TTL_SECONDS: Type.Integer({ minimum: 10, maximum: 3600, default: 180 }),
    PHONE_CODE_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
    PHONE_CODE_MAX_PER_HOUR: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
    RETENTION_INTERVAL_MS: Type.Integer({ minimum: 50, default: 60_000 }),
    RETENTION_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
    RETENTION_PROCESSED_EVENTS_SECONDS: Type.Integer({ minimum: 1, default: 1_209_600 }),
    RETENTION_DEAD_LETTERS_REPLAYED_SECONDS: Type.Integer({ minimum: 1, default: 604_800 }),
    RETENTION_DEAD_LETTERS_SECONDS: Type.Integer({ minimum: 1, default: 2_592_000 }),
    RETENTION_NOTIFICATIONS_SECONDS: Type.Integer({ minimum: 1, default: 7_776_000 }),
    RETENTION_IDEMPOTENCY_KEYS_SECONDS: Type.Integer({ minimum: 1, default: 86_400 }),
    RETENTION_WEBHOOK_DELIVERIES_SECONDS: Type.Integer({ minimum: 1, default: 2_592_000 }),
    RETENTION_PHONE_VERIFICATIONS_SECONDS: Type.Integer({ minimum: 1, default: 86_400 }),
    RETENTION_EVENT_LOG_SECONDS: Type.Optional(
      Type.Integer({ minimum: 1, description: "embedded log; default: each topic's retention" }),
    ),
    RETENTION_OUTBOX_ALERT_SECONDS: Type.Integer({ minimum: 1, default: 300 }),
    VACUUM: Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
      default: 'auto',
      description:
        'the service vacuums its tables (and checkpoints PGlite); auto: on PGlite only, where no autovacuum or checkpointer runs',
    }),
    VACUUM_INTERVAL_MS: Type.Integer({ minimum: 50, default: 60_000 }),
  },
  { additionalProperties: false },
)

export type Role = (typeof Roles)[number]

/** The settings, plus values parsed from them once here rather than wherever they are used. */
export type Config = Readonly<Static<typeof ConfigSchema>> & {
  readonly roles: ReadonlySet<Role>
  /** KAFKA_BROKERS split; empty for the embedded transport. */
  readonly kafkaBrokers: readonly string[]
  /** RETRY_DELAYS_MS parsed: one entry per retry stage (and retry topic). */
  readonly retryDelaysMs: readonly number[]
}

/** A refused value as the message shows it: secrets by their length only, URLs without their password. */
function shown(name: string, value: unknown): string {
  if (/(SECRET|_KEY|_TOKEN|PASSWORD|AUTH_HEADER|SERVICE_ACCOUNT)$/.test(name)) {
    return `${String(value).length} characters, not shown`
  }
  if (typeof value === 'string' && URL.canParse(value)) {
    const url = new URL(value)
    if (url.password) {
      url.password = '***'
      return JSON.stringify(url.toString())
    }
  }
  return JSON.stringify(value)
}

/** What a variable must be, in words: the schema's `expected`, or read from its type, bounds and choices. */
function expectedOf(schema: Record<string, unknown>, given: unknown): string {
  const s = schema as {
    expected?: string
    type?: string
    pattern?: string
    minimum?: number
    maximum?: number
    exclusiveMinimum?: number
    minLength?: number
    anyOf?: { const?: unknown }[]
  }
  if (s.expected) return s.expected
  if (s.anyOf?.every((c) => c.const !== undefined)) return `one of ${s.anyOf.map((c) => c.const).join(', ')}`
  if (s.type === 'integer' || s.type === 'number') {
    const what = s.type === 'integer' ? 'a whole number' : 'a number'
    if (s.minimum !== undefined && s.maximum !== undefined) return `${what} from ${s.minimum} to ${s.maximum}`
    const low = s.minimum ?? s.exclusiveMinimum
    const from = s.minimum !== undefined ? `of at least ${s.minimum}` : `above ${s.exclusiveMinimum}`
    if (low !== undefined && s.maximum !== undefined) return `${what} ${from}, at most ${s.maximum}`
    if (low !== undefined) return `${what} ${from}`
    if (s.maximum !== undefined) return `${what} of at most ${s.maximum}`
    return what
  }
  if (s.pattern === '^https?://') return 'an http:// or https:// URL'
  if (s.pattern?.startsWith('^postgres')) return 'a postgres:// or postgresql:// URL'
  if (s.minLength !== undefined && typeof given === 'string' && given.length < s.minLength)
    return `at least ${s.minLength} characters long`
  return Value.Errors(schema as never, given)[0]?.message ?? 'valid'
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads the known variables from `env`, applies defaults, validates, and freezes; throws ConfigError naming each bad variable. */
export function loadConfig(
  env: Record<string, string | undefined>,
  overrides: Record<string, unknown> = {},
): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  Object.assign(raw, overrides)
  const unknown = Object.keys(overrides).filter((k) => !(k in ConfigSchema.properties))
  if (unknown.length > 0) throw new ConfigError(`Unknown configuration keys: ${unknown.join(', ')}`)
  // Numbers are parsed by hand: Value.Convert truncates "80.5" to 80 for an integer instead of refusing it.
  const parsed: Record<string, unknown> = { ...raw }
  for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
    const given = parsed[key]
    const numeric = 'type' in schema && (schema.type === 'integer' || schema.type === 'number')
    if (numeric && typeof given === 'string' && given.trim() !== '' && !Number.isNaN(Number(given))) {
      parsed[key] = Number(given)
    }
  }
  const value = Value.Default(ConfigSchema, parsed) as Static<typeof ConfigSchema>
  if (!Value.Check(ConfigSchema, value)) {
    // One variable at a time: the validator stops after a few errors, and one bad union fills them all.
    const problems = Object.entries(ConfigSchema.properties).flatMap(([name, schema]) => {
      const given = (value as Record<string, unknown>)[name]
      if (given === undefined || Value.Check(schema, given)) return []
      return [`  ${name}: must be ${expectedOf(schema as never, given)} (got ${shown(name, raw[name])})`]
    })
    throw new ConfigError(`Invalid configuration from the environment:\n${problems.join('\n')}`)
  }
  return Object.freeze({
    ...value,
    roles: new Set(value.ROLES.split(',') as Role[]),
    kafkaBrokers: Object.freeze(value.KAFKA_BROKERS ? value.KAFKA_BROKERS.split(',') : []),
    retryDelaysMs: Object.freeze(value.RETRY_DELAYS_MS.split(',').map(Number)),
  })
}
