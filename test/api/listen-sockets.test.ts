import assert from 'node:assert/strict'
import { connect, type Server } from 'node:net'
import { after, test } from 'node:test'
import { rawRequest } from '../support/api-client.ts'
import { listenersOn } from '../support/sockets.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

let app: TestApp | undefined
after(() => app?.close())

test('LISTEN_SOCKETS listening sockets share the port, each handing its connections to the one server, and all close with it', async () => {
  app = await startTestApp('pglite', 'listen-sockets', { LISTEN_SOCKETS: 4 })
  const port = Number(new URL(app.url).port)
  assert.equal(listenersOn(port), 4)

  // Which listening socket took each connection: the server's own, or one of the extra ones (read before the HTTP
  // server's own connection listener sets `server` to itself).
  const takenBy = new Set<Server>()
  app.app.http.server.prependListener('connection', (socket: { server?: Server }) => {
    if (socket.server) takenBy.add(socket.server)
  })
  // New connections, one request each: the kernel spreads them over the four sockets by their addresses.
  const answers = await Promise.all(
    Array.from({ length: 64 }, () =>
      rawRequest(app!.url, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 10_000),
    ),
  )
  assert.deepEqual(
    answers.map((a) => a.status),
    answers.map(() => 200),
  )
  assert.ok(takenBy.size >= 2, `every connection came through ${takenBy.size} listening socket`)

  await app.close()
  app = undefined
  assert.equal(listenersOn(port), 0)
  const refused = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
  })
  assert.equal(refused, 'ECONNREFUSED')
})
