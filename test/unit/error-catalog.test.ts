import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { errorCatalog } from '../../src/platform/errors.ts'
import { Api } from '../support/api-client.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

type Operation = { responses?: Record<string, { description?: string; content?: any }> }

/** The error catalog checked against the OpenAPI document the service publishes. */
describe('error catalog and OpenAPI', () => {
  let t: TestApp
  let doc: any
  before(async () => {
    t = await startTestApp('pglite', 'error-catalog')
    const res = await new Api(t.url).get('/docs/json')
    assert.equal(res.status, 200)
    doc = res.body
  })
  after(() => t.close())

  function operations(): [string, Operation][] {
    return Object.entries<Record<string, Operation>>(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(
        ([method, op]) => [`${method.toUpperCase()} ${path}`, op] as [string, Operation],
      ),
    )
  }

  test('the Error schema code enum is exactly the catalog', () => {
    const code = doc.components.schemas.Error.properties.code
    const listed: string[] = code.enum ?? code.anyOf.flatMap((s: any) => s.enum ?? [s.const])
    assert.deepEqual([...listed].sort(), Object.keys(errorCatalog).sort())
    assert.deepEqual(doc.components.schemas.Error.required.sort(), ['code', 'message'])
  })

  test('catalog entries are well formed: error statuses, a message, a retry flag', () => {
    for (const [code, entry] of Object.entries(errorCatalog)) {
      assert.match(code, /^[A-Z][A-Z_]*$/)
      assert.ok(entry.status >= 400 && entry.status <= 599, code)
      assert.ok(entry.message.length > 0, code)
      assert.equal(typeof entry.retryable, 'boolean')
    }
  })

  test('every documented 4xx/5xx response is the Error schema', () => {
    let checked = 0
    for (const [name, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (Number(status) < 400) continue
        const schema = response.content?.['application/json']?.schema
        assert.equal(schema?.$ref, '#/components/schemas/Error', `${name} ${status}`)
        checked++
      }
    }
    assert.ok(checked > 50, `only ${checked} error responses documented`)
  })

  test('each documented error lists catalog codes whose status is the one it is documented under', () => {
    for (const [name, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (Number(status) < 400) continue
        const codes = (response.description ?? '').split(',').map((c) => c.trim())
        assert.ok(codes.length > 0)
        for (const code of codes) {
          const entry = errorCatalog[code as keyof typeof errorCatalog]
          assert.ok(entry, `${name} ${status} documents unknown code ${code}`)
          assert.equal(
            entry.status,
            Number(status),
            `${name}: ${code} is ${entry.status}, documented as ${status}`,
          )
        }
      }
    }
  })

  test('every operation that validates input documents 400 VALIDATION_FAILED, and every one 500', () => {
    for (const [name, op] of operations() as [
      string,
      Operation & { parameters?: unknown[]; requestBody?: unknown },
    ][]) {
      if (name.startsWith('GET /health') || name.startsWith('GET /ready')) continue
      const takesInput = (op.parameters?.length ?? 0) > 0 || op.requestBody !== undefined
      if (takesInput) assert.match(op.responses?.['400']?.description ?? '', /VALIDATION_FAILED/, name)
      assert.match(op.responses?.['500']?.description ?? '', /INTERNAL_ERROR/, name)
    }
  })
})
