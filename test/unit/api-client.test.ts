import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { Api } from '../support/api-client.ts'

test('a request that gets no answer fails naming itself, and one answered in time is read whole', async () => {
  const waiting: IncomingMessage[] = []
  // Answers /quick at once; /stuck never (its socket is destroyed at the end).
  const server = createServer((req, res) => {
    if (req.url === '/quick') res.end(JSON.stringify({ ok: true }))
    else waiting.push(req)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const api = new Api(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  try {
    const started = Date.now()
    await assert.rejects(api.post('/stuck', { body: { a: 1 }, answerWithinMs: 300 }), (error: Error) => {
      assert.equal(error.message, 'POST /stuck: no answer within 0.3 s')
      return true
    })
    assert.ok(Date.now() - started < 5_000, 'the limit ended the wait')
    assert.equal(waiting.length, 1, 'the request reached the server')
    const quick = await api.get('/quick', { answerWithinMs: 300 })
    assert.deepEqual([quick.status, quick.body], [200, { ok: true }])
  } finally {
    for (const req of waiting) req.socket.destroy()
    server.close()
    server.closeAllConnections()
  }
})
