// node:test's events between processes: errors keep what the reporters read (failureType, cause, code, an
// assertion's actual and expected), which structured cloning would drop; anything else that cannot be cloned is sent
// as its inspected text.
import { inspect } from 'node:util'

const ERROR = '__wireError'

export function toWire(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const fields: Record<string, unknown> = {}
    for (const key of Object.keys(value))
      fields[key] = toWire((value as unknown as Record<string, unknown>)[key], depth + 1)
    if ('cause' in value) fields.cause = toWire(value.cause, depth + 1)
    return { [ERROR]: { name: value.name, message: value.message, stack: value.stack, fields } }
  }
  if (Array.isArray(value)) return depth > 8 ? inspect(value) : value.map((v) => toWire(v, depth + 1))
  if (value !== null && typeof value === 'object') {
    if (depth > 8) return inspect(value)
    const out: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(value)) out[key] = toWire(v, depth + 1)
    return out
  }
  if (typeof value === 'function' || typeof value === 'symbol') return inspect(value)
  return value
}

export function fromWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromWire)
  if (value !== null && typeof value === 'object') {
    const wired = (value as Record<string, unknown>)[ERROR] as
      | { name: string; message: string; stack: string | undefined; fields: Record<string, unknown> }
      | undefined
    if (wired) {
      const error = new Error(wired.message)
      Object.defineProperty(error, 'name', {
        value: wired.name,
        enumerable: false,
        configurable: true,
        writable: true,
      })
      error.stack = wired.stack
      for (const [key, v] of Object.entries(wired.fields))
        (error as unknown as Record<string, unknown>)[key] = fromWire(v)
      return error
    }
    const out: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(value)) out[key] = fromWire(v)
    return out
  }
  return value
}
