import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import type { Config } from '../platform/config.ts'
import { AppError } from '../platform/errors.ts'

/** scrypt's cost parameters; stored with every hash so that they can be raised later. */
export interface ScryptParams {
  readonly N: number
  readonly r: number
  readonly p: number
}

/** Current guidance for scrypt (OWASP: N=2^17, r=8, p=1); 128 MiB of memory per hash. */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 2 ** 17, r: 8, p: 1 })

/** Hashes written before parameters were stored (`scrypt$<salt>$<hash>`) used Node's defaults. */
const LEGACY_SCRYPT: ScryptParams = Object.freeze({ N: 2 ** 14, r: 8, p: 1 })
const KEY_LENGTH = 32

interface ParsedHash {
  params: ScryptParams
  salt: Buffer
  hash: Buffer
}

/** `scrypt$N$r$p$<salt>$<hash>` (base64), or the legacy `scrypt$<salt>$<hash>`; undefined when neither. */
export function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$')
  if (parts[0] !== 'scrypt') return undefined
  if (parts.length === 3 && parts[1] && parts[2]) {
    return {
      params: LEGACY_SCRYPT,
      salt: Buffer.from(parts[1], 'base64'),
      hash: Buffer.from(parts[2], 'base64'),
    }
  }
  if (parts.length !== 6) return undefined
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  const valid = (n: number, max: number) => Number.isSafeInteger(n) && n >= 1 && n <= max
  if (!valid(N, 2 ** 20) || (N & (N - 1)) !== 0 || N < 2 || !valid(r, 32) || !valid(p, 16)) return undefined
  if (!parts[4] || !parts[5]) return undefined
  return { params: { N, r, p }, salt: Buffer.from(parts[4], 'base64'), hash: Buffer.from(parts[5], 'base64') }
}

function formatHash({ N, r, p }: ScryptParams, salt: Buffer, hash: Buffer): string {
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${hash.toString('base64')}`
}

function derive(password: string, salt: Buffer, length: number, { N, r, p }: ScryptParams): Promise<Buffer> {
  // scrypt needs 128·N·r·p bytes; Node refuses past maxmem (32 MiB by default), so allow that with room to spare.
  const maxmem = 256 * N * r * p
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, { N, r, p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  )
}

export interface PasswordHasher {
  readonly params: ScryptParams
  hash(password: string): Promise<string>
  /**
   * Whether `password` matches `stored` (undefined: an account that does not exist, checked against a dummy hash of
   * the current parameters so that the answer takes as long), and whether the hash should be redone with the current
   * parameters.
   */
  verify(password: string, stored: string | undefined): Promise<{ ok: boolean; outdated: boolean }>
  /** True when nobody waits for the pool: a rehash now delays no fan. */
  idle(): boolean
  /** Hashes running and waiting, for metrics and tests. */
  load(): { running: number; waiting: number }
}

export interface PasswordHasherOptions {
  params?: ScryptParams
  /** Hashes running at once (each takes 128·N·r bytes and one libuv thread; the pool has 4 threads by default). */
  concurrency: number
  /** Hashes waiting beyond that; one more is refused with 503 PASSWORD_HASHING_BUSY and Retry-After. */
  queueLimit: number
}

/**
 * scrypt behind a bounded pool: at most `concurrency` hashes run, at most `queueLimit` wait, the rest are refused at
 * once. A flood of sign-ins then waits for its own slots (or is refused) instead of filling libuv's thread pool,
 * which DNS lookups, file reads and the rest of the service share.
 */
export function createPasswordHasher(options: PasswordHasherOptions): PasswordHasher {
  const params = options.params ?? DEFAULT_SCRYPT
  // The same work as a real account's check: a random salt and hash of the current parameters.
  const dummy = formatHash(params, randomBytes(16), randomBytes(KEY_LENGTH))
  let running = 0
  const waiting: (() => void)[] = []

  async function inPool<T>(work: () => Promise<T>): Promise<T> {
    if (running >= options.concurrency) {
      if (waiting.length >= options.queueLimit) {
        throw new AppError('PASSWORD_HASHING_BUSY', undefined, undefined, { retryAfterSeconds: 1 })
      }
      await new Promise<void>((resolve) => waiting.push(resolve))
    } else {
      running++
    }
    try {
      return await work()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else running--
    }
  }

  return {
    params,
    async hash(password) {
      const salt = randomBytes(16)
      const hash = await inPool(() => derive(password, salt, KEY_LENGTH, params))
      return formatHash(params, salt, hash)
    },
    async verify(password, stored) {
      const parsed = parseHash(stored ?? dummy) ?? parseHash(dummy)!
      const actual = await inPool(() => derive(password, parsed.salt, parsed.hash.length, parsed.params))
      const ok =
        stored !== undefined && actual.length === parsed.hash.length && timingSafeEqual(actual, parsed.hash)
      const outdated =
        parsed.params.N !== params.N || parsed.params.r !== params.r || parsed.params.p !== params.p
      return { ok, outdated }
    },
    idle: () => waiting.length === 0 && running < options.concurrency,
    load: () => ({ running, waiting: waiting.length }),
  }
}

/** The hasher the configuration describes (PASSWORD_HASH_COST, _CONCURRENCY, _QUEUE). */
export function passwordHasherFromConfig(
  config: Pick<Config, 'PASSWORD_HASH_COST' | 'PASSWORD_HASH_CONCURRENCY' | 'PASSWORD_HASH_QUEUE'>,
): PasswordHasher {
  return createPasswordHasher({
    params: { N: 2 ** config.PASSWORD_HASH_COST, r: 8, p: 1 },
    concurrency: config.PASSWORD_HASH_CONCURRENCY,
    queueLimit: config.PASSWORD_HASH_QUEUE,
  })
}
