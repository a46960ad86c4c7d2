import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Client } from 'undici'
import type { App } from '../../src/app.ts'
import { Api } from '../support/api-client.ts'
import { openStream } from '../support/event-stream.ts'
import { seedAdmittedFans } from '../support/fans.ts'
import { assertError, createSchedule, enterQueue, type Fan, signUp } from '../support/flows.ts'
import { startSecondInstance, startTestApp, type TestApp } from '../support/test-app.ts'

async function streamToken(api: Api, fan: { token: string }): Promise<string> {
  const res = await api.post('/streams/tokens', { token: fan.token })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  return res.body.token
}

// Two API instances on one PostgreSQL database: A runs the admission rounds, B only serves (and streams).
describe('push streams across instances [postgres]', () => {
  const secret = randomBytes(32).toString('hex')
  let a: TestApp
  let b: App
  let apiA: Api
  let apiB: Api
  let urlB: string
  before(async () => {
    a = await startTestApp('postgres', 'live_streams', { AUTH_SECRET: secret, QUEUE_ADMIT_PER_SECOND: 1000 })
    const second = await startSecondInstance(a, secret, { STREAMS_MAX_PER_INSTANCE: 3 })
    b = second.app
    apiA = new Api(a.url)
    urlB = second.url
    apiB = new Api(urlB)
  })
  after(async () => {
    await b.close()
    await a.close()
  })

  test('a seat held on one instance reaches a seat stream on the other within 1 s', async () => {
    const { scheduleId, seatIds } = await createSchedule(apiA, a.adminKey, { seats: 5 })
    const [fan] = await seedAdmittedFans(a.app.database.db, { count: 1, points: 0, secret, scheduleId })
    const stream = await openStream(
      `${urlB}/schedules/${scheduleId}/seats/stream?token=${await streamToken(apiB, fan!)}`,
    )
    try {
      const snapshot = await stream.next((e) => e.event === 'snapshot')
      assert.equal(snapshot.data.seats.length, 5)
      assert.ok(snapshot.data.seats.every((s: { status: string }) => s.status === 'available'))
      const started = Date.now()
      const held = await apiA.post(`/schedules/${scheduleId}/seats/${seatIds[2]}/hold`, {
        token: fan!.token,
        headers: { 'x-queue-token': fan!.queueToken },
      })
      assert.equal(held.status, 201)
      const change = await stream.next((e) => e.event === 'seat' && e.data.id === seatIds[2], 1000)
      assert.equal(change.data.status, 'held')
      assert.equal(change.data.heldUntil, held.body.expiresAt)
      console.log(`[figure] hold on instance A seen on instance B's stream after ${change.at - started} ms`)

      assert.equal((await apiA.delete(`/reservations/${held.body.id}`, { token: fan!.token })).status, 204)
      const freed = await stream.next(
        (e) => e.event === 'seat' && e.data.id === seatIds[2] && e.data.status === 'available',
        1000,
      )
      assert.equal(freed.data.heldUntil, undefined)
      // each state once: the revision poll reads the same rows again, but repeats are not sent
      await new Promise((r) => setTimeout(r, 300))
      assert.equal(stream.events.filter((e) => e.event === 'seat').length, 2)
    } finally {
      stream.close()
    }
  })

  test('a fan on instance B sees the place fall as instance A admits, then the admission with its token', async () => {
    const { scheduleId } = await createSchedule(apiA, a.adminKey, { seats: 5 })
    await a.app.admission.tick() // opens the line before anyone comes: places in order of arrival
    const fans: Fan[] = []
    for (let i = 0; i < 4; i++) fans.push(await signUp(apiA, `line${i}`))
    for (const fan of fans) assert.equal((await enterQueue(apiA, fan, scheduleId)).status, 201)
    const last = fans[3]!
    const stream = await openStream(
      `${urlB}/schedules/${scheduleId}/queue/stream?token=${await streamToken(apiB, last)}`,
    )
    try {
      const first = await stream.next((e) => e.event === 'place')
      assert.deepEqual(
        { status: first.data.status, position: first.data.position, ahead: first.data.ahead },
        { status: 'waiting', position: 4, ahead: 3 },
      )
      assert.equal(first.data.token, undefined)
      // a round that lets in the first two (written as a round writes it: the line's watermark)
      await a.app.database.db
        .updateTable('queue_state')
        .set({ admitted_through: 2 })
        .where('schedule_id', '=', scheduleId)
        .execute()
      const moved = await stream.next((e) => e.event === 'place' && e.data.position === 2, 2000)
      assert.equal(moved.data.ahead, 1)
      await a.app.admission.tick()
      const admitted = await stream.next((e) => e.event === 'admitted', 2000)
      assert.equal(admitted.data.status, 'admitted')
      assert.equal(admitted.data.position, 0)
      assert.equal(typeof admitted.data.token, 'string')
      const seats = await apiB.get(`/schedules/${scheduleId}/seats`)
      const held = await apiB.post(`/schedules/${scheduleId}/seats/${seats.body.seats[0].id}/hold`, {
        token: last.token,
        headers: { 'x-queue-token': admitted.data.token },
      })
      assert.equal(held.status, 201, 'the token from the stream holds a seat')
    } finally {
      stream.close()
    }
  })

  test('a fan who joined before the sale opened is told the moment the line opens', async () => {
    const { scheduleId } = await createSchedule(apiA, a.adminKey, { seats: 5 })
    const fan = await signUp(apiA, 'early')
    assert.equal((await enterQueue(apiA, fan, scheduleId)).status, 201)
    const stream = await openStream(
      `${urlB}/schedules/${scheduleId}/queue/stream?token=${await streamToken(apiB, fan)}`,
    )
    try {
      const first = await stream.next((e) => e.event === 'place')
      assert.equal(first.data.preQueue, true)
      assert.equal(first.data.position, null)
      await a.app.admission.tick() // opening: the pre-queue is drawn and, with room, let in
      const admitted = await stream.next((e) => e.event === 'admitted', 2000)
      assert.equal(typeof admitted.data.token, 'string')
    } finally {
      stream.close()
    }
  })

  test('HEAD on a stream answers its headers and ends: the same connection serves the next request', async () => {
    const { scheduleId } = await createSchedule(apiA, a.adminKey, { seats: 2 })
    const fan = await signUp(apiB, 'head')
    assert.equal((await enterQueue(apiB, fan, scheduleId)).status, 201)
    const token = await streamToken(apiB, fan)
    // one connection: a HEAD answer that never ended would keep the GET behind it waiting
    const client = new Client(urlB, { pipelining: 1, headersTimeout: 5000, bodyTimeout: 5000 })
    try {
      // four of each on an instance capped at 3 open streams: a HEAD holds no place
      for (const kind of ['seats', 'queue', 'seats', 'queue', 'seats', 'queue', 'seats', 'queue']) {
        const head = await client.request({
          method: 'HEAD',
          path: `/schedules/${scheduleId}/${kind}/stream?token=${token}`,
        })
        assert.equal(head.statusCode, 200, kind)
        assert.match(String(head.headers['content-type']), /^text\/event-stream/)
        await head.body.text()
        const next = await client.request({ method: 'GET', path: '/health' })
        assert.equal(next.statusCode, 200, `the request after HEAD ${kind}`)
        await next.body.text()
      }
    } finally {
      await client.close()
    }
  })

  test('streams need a token, refuse a stranger to the line, and are capped per instance with 503', async () => {
    const { scheduleId } = await createSchedule(apiA, a.adminKey, { seats: 2 })
    const fan = await signUp(apiA, 'capped')
    const none = await openStream(`${urlB}/schedules/${scheduleId}/seats/stream`)
    assertError({ status: none.status, body: none.body, headers: {} } as never, 401, 'UNAUTHENTICATED')
    const forged = await openStream(`${urlB}/schedules/${scheduleId}/seats/stream?token=${fan.token}`)
    assert.equal(forged.status, 401, 'an access token is not a stream token')
    const token = await streamToken(apiB, fan)
    const stranger = await openStream(`${urlB}/schedules/${scheduleId}/queue/stream?token=${token}`)
    assert.equal(stranger.body.code, 'QUEUE_ENTRY_NOT_FOUND')
    const unknown = await openStream(
      `${urlB}/schedules/00000000-0000-4000-8000-000000000000/seats/stream?token=${token}`,
    )
    assert.equal(unknown.body.code, 'SCHEDULE_NOT_FOUND')

    const open = []
    for (let i = 0; i < 3; i++) {
      const s = await openStream(`${urlB}/schedules/${scheduleId}/seats/stream?token=${token}`)
      assert.equal(s.status, 200)
      await s.next((e) => e.event === 'snapshot')
      open.push(s)
    }
    const refused = await openStream(`${urlB}/schedules/${scheduleId}/seats/stream?token=${token}`)
    assertError(
      { status: refused.status, body: refused.body, headers: {} } as never,
      503,
      'STREAMS_AT_CAPACITY',
    )
    open.pop()!.close()
    let status = 0
    for (let i = 0; i < 40 && status !== 200; i++) {
      const again = await openStream(`${urlB}/schedules/${scheduleId}/seats/stream?token=${token}`)
      status = again.status
      again.close()
      if (status !== 200) await new Promise((r) => setTimeout(r, 25))
    }
    assert.equal(status, 200, 'a closed stream gives its place back')
    // the streams still open are ended by the instance's close (after), which would hang otherwise
    const doc = await apiB.get('/docs/json')
    assert.ok(
      doc.body.paths['/schedules/{scheduleId}/seats/stream'].get.responses['200'].content[
        'text/event-stream'
      ],
    )
    assert.ok(doc.body.paths['/schedules/{scheduleId}/queue/stream'].get)
  })
})
