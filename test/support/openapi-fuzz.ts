/**
 * Malformed requests generated from an OpenAPI 3.1 document: each operation's path, query, header and body
 * parameters are filled from their schemas, then mutated (wrong types, out-of-range numbers, huge or hostile strings,
 * missing or extra fields, broken JSON, wrong content types, forged tokens). Seeded, so a failure can be replayed.
 */

export type Rng = () => number

/** mulberry32: small, fast, seeded. */
export function seededRandom(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Operation {
  method: string
  path: string
  parameters: { name: string; in: 'path' | 'query' | 'header'; required: boolean; schema: any }[]
  body: any | undefined
}

export interface FuzzRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: string | undefined
  /** Which operation it came from, for the report. */
  operation: string
}

/** Values the fuzzer knows (its own ids and tokens, a schedule's ids): used some of the time, as a client would. */
export interface Known {
  ids: Record<string, string[]>
  headers: Record<string, string[]>
}

export function operationsOf(doc: any): Operation[] {
  const resolve = (schema: any, depth = 0): any => {
    if (!schema || typeof schema !== 'object' || depth > 20) return schema
    if (typeof schema.$ref === 'string') {
      const name = schema.$ref.replace('#/components/schemas/', '')
      return resolve(doc.components?.schemas?.[name], depth + 1)
    }
    return schema
  }
  const out: Operation[] = []
  for (const [path, ops] of Object.entries<any>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<any>(ops)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue
      out.push({
        method: method.toUpperCase(),
        path,
        parameters: (op.parameters ?? []).map((p: any) => ({
          name: p.name,
          in: p.in,
          required: Boolean(p.required),
          schema: resolve(p.schema) ?? {},
        })),
        body: resolve(op.requestBody?.content?.['application/json']?.schema),
      })
    }
  }
  return out
}

const hostileStrings = [
  '',
  ' ',
  'null',
  'undefined',
  '0',
  '-1',
  'NaN',
  'Infinity',
  '1e400',
  '9'.repeat(40),
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00',
  '\u0000',
  '\ud800',
  '😀'.repeat(50),
  'ａｂｃ',
  '__proto__',
  'constructor',
  '{"a":1}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as a literal string
  '${7*7}',
  'x'.repeat(5000),
]

/** encodeURIComponent, with lone surrogates (which it refuses) replaced first. */
const encode = (value: string) => encodeURIComponent(value.toWellFormed())

/** Strings a number parser may read as a number that no column holds. */
const numericEdges = [
  'Infinity',
  '-Infinity',
  '+Infinity',
  '1e400',
  '-1e400',
  '1e308',
  'NaN',
  '-0',
  '0x10',
  '1_000',
  '9'.repeat(40),
  '9007199254740993',
  '2147483648',
  '-2147483649',
  '1.5',
  '',
  ' 1',
]

export function createFuzzer(rng: Rng, known: Known) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)]!
  const chance = (p: number) => rng() < p
  const int = (min: number, max: number) => Math.floor(min + rng() * (max - min + 1))

  function randomString(schema: any): string {
    if (schema?.format === 'uuid') return crypto.randomUUID()
    if (schema?.format === 'email') return `fuzz-${int(0, 1e9)}@fuzz.example`
    if (schema?.format === 'date-time') return new Date(Date.now() + int(-1e10, 1e10)).toISOString()
    if (schema?.format === 'date') return new Date(Date.now() + int(-1e10, 1e10)).toISOString().slice(0, 10)
    if (schema?.enum) return pick(schema.enum)
    if (schema?.const !== undefined) return String(schema.const)
    const length = int(schema?.minLength ?? 0, Math.min(schema?.maxLength ?? 30, 60))
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'
    return Array.from({ length }, () => pick(alphabet.split(''))).join('')
  }

  /** A value that fits the schema's type (roughly), the starting point of mutations. */
  function valueFor(schema: any, depth = 0): unknown {
    if (!schema || depth > 6) return null
    if (schema.const !== undefined) return schema.const
    if (schema.enum) return pick(schema.enum)
    const choices = schema.anyOf ?? schema.oneOf
    if (choices) return valueFor(pick(choices), depth + 1)
    const type = Array.isArray(schema.type) ? pick(schema.type) : schema.type
    switch (type) {
      case 'integer':
        return int(schema.minimum ?? 0, Math.min(schema.maximum ?? 100_000, 1_000_000))
      case 'number':
        return (schema.minimum ?? 0) + rng() * 1000
      case 'boolean':
        return chance(0.5)
      case 'null':
        return null
      case 'array':
        return Array.from({ length: int(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 5)) }, () =>
          valueFor(schema.items, depth + 1),
        )
      case 'object': {
        const out: Record<string, unknown> = {}
        for (const [key, prop] of Object.entries<any>(schema.properties ?? {})) {
          if ((schema.required ?? []).includes(key) || chance(0.5)) out[key] = valueFor(prop, depth + 1)
        }
        return out
      }
      default:
        return randomString(schema)
    }
  }

  /** A wrong value: another type, a number out of range, a hostile string, a deep or huge structure. */
  function wrongValue(schema: any): unknown {
    const roll = rng()
    if (roll < 0.25) return pick(hostileStrings)
    if (roll < 0.45) {
      return schema?.type === 'integer' || schema?.type === 'number'
        ? pick([-1, 0, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, 0.5, -0.0, Number.MAX_SAFE_INTEGER + 2])
        : pick([-1, 0, 2 ** 31, 1e308, 0.5])
    }
    if (roll < 0.6) return pick([true, false, null, [], {}, [1, 2], { a: { b: { c: [] } } }])
    if (roll < 0.7) {
      let deep: unknown = 1
      for (let i = 0; i < 200; i++) deep = [deep]
      return deep
    }
    if (roll < 0.8) return Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]))
    return valueFor(schema)
  }

  function mutateObject(value: unknown, schema: any): unknown {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return wrongValue(schema)
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    const keys = Object.keys(schema?.properties ?? {})
    const roll = rng()
    if (roll < 0.3 && keys.length > 0) {
      const key = pick(keys)
      out[key] = wrongValue(schema.properties[key])
    } else if (roll < 0.45 && keys.length > 0) {
      delete out[pick(keys)]
    } else if (roll < 0.55) {
      out[pick(['extra', '__proto__', 'constructor', 'isAdmin', 'userId', 'balance'])] = pick([
        1,
        'x',
        { admin: true },
      ])
    } else if (roll < 0.65 && keys.length > 0) {
      const key = pick(keys)
      const inner = schema.properties[key]
      if (inner?.type === 'array' && inner.items) {
        out[key] = Array.from({ length: int(0, 3) }, () => mutateObject(valueFor(inner.items), inner.items))
      } else out[key] = mutateObject(valueFor(inner), inner)
    } else if (roll < 0.8) {
      return wrongValue(schema)
    }
    return out
  }

  function paramValue(param: Operation['parameters'][number]): string | undefined {
    const pool = known.ids[param.name]
    const roll = rng()
    if (param.schema?.type === 'integer' || param.schema?.type === 'number') {
      return roll < 0.4 ? String(valueFor(param.schema)) : pick(numericEdges)
    }
    if (pool && roll < 0.45) return pick(pool)
    if (roll < 0.7) {
      const value = valueFor(param.schema)
      return typeof value === 'string' ? value : JSON.stringify(value)
    }
    const wrong = wrongValue(param.schema)
    return typeof wrong === 'string' ? wrong : JSON.stringify(wrong)
  }

  function encodePathValue(value: string): string {
    const roll = rng()
    if (roll < 0.85) return encode(value)
    return pick([
      value.replaceAll('/', '%2F'),
      '%zz',
      '%E0%A4%A',
      '..',
      '.',
      'a'.repeat(int(100, 300)),
      '%00',
    ])
  }

  function headerValue(name: string): string {
    const pool = known.headers[name]
    if (pool && chance(0.75)) return pick(pool)
    return pick([
      '',
      'x',
      'Bearer ',
      'Bearer x.y.z',
      'a'.repeat(2000),
      'Basic Zm9vOmJhcg==',
      '\u00e9\u00e8',
      '0',
    ])
  }

  return {
    /** One request for `op`, valid-shaped or mutated. */
    request(op: Operation): FuzzRequest {
      let path = op.path
      const query: string[] = []
      const headers: Record<string, string> = {}
      for (const param of op.parameters) {
        if (!param.required && chance(0.4)) continue
        if (param.required && chance(0.03)) continue
        const value = paramValue(param)
        if (value === undefined) continue
        if (param.in === 'path') path = path.replace(`{${param.name}}`, encodePathValue(value))
        else if (param.in === 'query') {
          query.push(`${encode(param.name)}=${chance(0.9) ? encode(value) : value}`)
        } else if (param.in === 'header') {
          headers[param.name] = /^[\t\x20-\x7e]*$/.test(value) ? value : encode(value)
        }
      }
      path = path.replace(/\{[^}]+\}/g, () => encodePathValue(pick(hostileStrings)))
      if (chance(0.1))
        query.push(`${pick(['limit', 'before', 'x', '__proto__'])}=${pick(hostileStrings.slice(0, 12))}`)
      for (const name of ['authorization', 'x-queue-token', 'x-admin-key', 'idempotency-key']) {
        if (chance(name === 'authorization' ? 0.85 : 0.4)) headers[name] = headerValue(name)
      }
      let body: string | undefined
      if (op.body || chance(0.1)) {
        const roll = rng()
        if (roll < 0.35) body = JSON.stringify(valueFor(op.body))
        else if (roll < 0.8) body = JSON.stringify(mutateObject(valueFor(op.body), op.body)) ?? 'null'
        else
          body = pick([
            '',
            '{',
            '{"a":',
            'null',
            '[]',
            '"x"',
            '{"__proto__":{"isAdmin":true}}',
            '{"constructor":{"prototype":{"x":1}}}',
            `{"a":"${'x'.repeat(70_000)}"}`,
            '\u0000',
            '{"amount": 1e400}',
            '{"amount": -0}',
          ])
        headers['content-type'] = chance(0.9)
          ? 'application/json'
          : pick([
              'text/plain',
              'application/x-www-form-urlencoded',
              'application/json; charset=latin1',
              'a/b',
              '',
            ])
      }
      const method = chance(0.03) ? pick(['PATCH', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']) : op.method
      return {
        method,
        path: query.length > 0 ? `${path}?${query.join('&')}` : path,
        headers,
        body: method === 'GET' || method === 'HEAD' ? undefined : body,
        operation: `${op.method} ${op.path}`,
      }
    },
  }
}
