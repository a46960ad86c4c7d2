import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import {
  assertError,
  charge,
  createSchedule,
  enterQueue,
  type Fan,
  holdSeat,
  myTicket,
  pay,
  queueStatus,
  signUp,
  sleep,
} from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'

/** A schedule whose sale is open and whose waiting room is already opened by a round, so entry order is FIFO. */
async function openSchedule(t: TestApp, api: Api, seats = 10) {
  const schedule = await createSchedule(api, t.adminKey, { seats, price: 1_000 })
  await t.app.admission.tick()
  return schedule
}

async function signUpMany(api: Api, n: number, label: string): Promise<Fan[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => signUp(api, `${label}${i}`)))
}

async function tickets(api: Api, fans: readonly Fan[], scheduleId: string) {
  const out = []
  for (const fan of fans) {
    const res = await myTicket(api, fan, scheduleId)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    out.push(res.body)
  }
  return out
}

for (const kind of databaseKinds) {
  describe(`waiting room [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'queue', { QUEUE_ADMIT_PER_SECOND: 1_000_000, QUEUE_MAX_ACTIVE: 1000 })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('entering answers 201 with a place; entering again answers 200 with the same place', async () => {
      const { scheduleId } = await openSchedule(t, api)
      const fans = await signUpMany(api, 3, 'twice')
      for (const [i, fan] of fans.entries()) {
        const first = await enterQueue(api, fan, scheduleId)
        assert.equal(first.status, 201, JSON.stringify(first.body))
        assert.equal(first.body.status, 'waiting')
        assert.equal(first.body.preQueue, false)
        assert.equal(first.body.position, i + 1)
        for (let again = 0; again < 3; again++) {
          const repeat = await enterQueue(api, fan, scheduleId)
          assert.equal(repeat.status, 200)
          assert.equal(repeat.body.position, i + 1)
        }
      }
      // re-entries must not push later fans back
      const late = await signUp(api, 'late')
      assert.equal((await enterQueue(api, late, scheduleId)).body.position, 4)
      assert.deepEqual(
        (await tickets(api, fans, scheduleId)).map((x) => x.position),
        [1, 2, 3],
      )
      const status = await queueStatus(api, t.adminKey, scheduleId)
      assert.equal(status.waiting, 4)
    })

    test('after opening, fans are admitted first come, first served', async () => {
      const { scheduleId } = await openSchedule(t, api)
      const fans = await signUpMany(api, 6, 'fifo')
      for (const fan of fans) await enterQueue(api, fan, scheduleId)
      const round = await t.app.admission.tick()
      const admitted = round.admitted.filter((a) => a.scheduleId === scheduleId)
      assert.equal(admitted.length, 6)
      assert.deepEqual(
        [...admitted].sort((a, b) => a.seq - b.seq).map((a) => a.userId),
        fans.map((f) => f.id),
      )
      for (const ticket of await tickets(api, fans, scheduleId)) {
        assert.equal(ticket.status, 'admitted')
        assert.equal(ticket.position, 0)
        assert.equal(ticket.estimatedWaitSeconds, 0)
        assert.equal(typeof ticket.token, 'string')
        assert.ok(Date.parse(ticket.admittedUntil) > Date.now())
      }
    })

    test('re-entering while admitted keeps the admission and its token', async () => {
      const { scheduleId } = await openSchedule(t, api)
      const [fan] = await signUpMany(api, 1, 'readmit')
      await enterQueue(api, fan!, scheduleId)
      await t.app.admission.tick()
      const before = (await myTicket(api, fan!, scheduleId)).body
      const again = await enterQueue(api, fan!, scheduleId)
      assert.equal(again.status, 200)
      assert.equal(again.body.status, 'admitted')
      assert.equal(again.body.admittedUntil, before.admittedUntil)
    })

    test('leaving answers 204 and marks the ticket left; entering again goes to the back of the line', async () => {
      const { scheduleId } = await openSchedule(t, api)
      const fans = await signUpMany(api, 3, 'leave')
      for (const fan of fans) await enterQueue(api, fan, scheduleId)
      const left = await api.delete(`/schedules/${scheduleId}/queue/me`, { token: fans[0]!.token })
      assert.equal(left.status, 204)
      const ticket = (await myTicket(api, fans[0]!, scheduleId)).body
      assert.equal(ticket.status, 'left')
      assert.equal(ticket.position, null)
      assert.equal(ticket.token, undefined)
      const back = await enterQueue(api, fans[0]!, scheduleId)
      assert.equal(back.status, 201)
      assert.equal(back.body.status, 'waiting')
      await t.app.admission.tick()
      const round = await tickets(api, fans, scheduleId)
      assert.ok(round.every((x) => x.status === 'admitted'))
    })

    test('a fan not in the line, or a schedule that does not exist, answers 404', async () => {
      const { scheduleId } = await openSchedule(t, api)
      const [fan] = await signUpMany(api, 1, 'absent')
      assertError(await myTicket(api, fan!, scheduleId), 404, 'QUEUE_ENTRY_NOT_FOUND')
      assertError(
        await api.delete(`/schedules/${scheduleId}/queue/me`, { token: fan!.token }),
        404,
        'QUEUE_ENTRY_NOT_FOUND',
      )
      assertError(await enterQueue(api, fan!, randomUUID()), 404, 'SCHEDULE_NOT_FOUND')
      assertError(await myTicket(api, fan!, randomUUID()), 404, 'QUEUE_ENTRY_NOT_FOUND')
      assertError(await api.post(`/schedules/${scheduleId}/queue`), 401, 'UNAUTHENTICATED')
      assertError(await api.get(`/schedules/${scheduleId}/queue/me`), 401, 'UNAUTHENTICATED')
    })

    test('the organizer status needs the admin key and counts each state', async () => {
      const { scheduleId } = await openSchedule(t, api)
      assertError(await api.get(`/admin/schedules/${scheduleId}/queue`), 401, 'ADMIN_KEY_INVALID')
      assertError(
        await api.get(`/admin/schedules/${randomUUID()}/queue`, { headers: { 'x-admin-key': t.adminKey } }),
        404,
        'SCHEDULE_NOT_FOUND',
      )
      const fans = await signUpMany(api, 4, 'status')
      for (const fan of fans.slice(0, 2)) await enterQueue(api, fan, scheduleId)
      await t.app.admission.tick()
      for (const fan of fans.slice(2)) await enterQueue(api, fan, scheduleId)
      await api.delete(`/schedules/${scheduleId}/queue/me`, { token: fans[0]!.token })
      const status = await queueStatus(api, t.adminKey, scheduleId)
      assert.deepEqual(status, {
        opened: true,
        waiting: 2,
        active: 1,
        completed: 0,
        left: 1,
        maxActive: 1000,
        admitPerSecond: 1_000_000,
        estimatedWaitForLastSeconds: 1,
      })
    })
  })

  describe(`waiting room capacity [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'queue_capacity', {
        QUEUE_ADMIT_PER_SECOND: 1_000_000,
        QUEUE_MAX_ACTIVE: 2,
      })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('QUEUE_MAX_ACTIVE caps admitted fans; leaving or buying frees a slot for the next in line', async () => {
      const { scheduleId, seatIds } = await openSchedule(t, api)
      const [a, b, c, d] = await signUpMany(api, 4, 'cap')
      for (const fan of [a, b, c, d]) await enterQueue(api, fan!, scheduleId)
      for (let round = 0; round < 3; round++) await t.app.admission.tick()
      assert.deepEqual(
        (await tickets(api, [a!, b!, c!, d!], scheduleId)).map((x) => [x.status, x.position]),
        [
          ['admitted', 0],
          ['admitted', 0],
          ['waiting', 1],
          ['waiting', 2],
        ],
      )
      assert.equal((await queueStatus(api, t.adminKey, scheduleId)).active, 2)

      assert.equal((await api.delete(`/schedules/${scheduleId}/queue/me`, { token: a!.token })).status, 204)
      await t.app.admission.tick()
      await t.app.admission.tick()
      assert.deepEqual(
        (await tickets(api, [c!, d!], scheduleId)).map((x) => x.status),
        ['admitted', 'waiting'],
      )

      await charge(api, b!, 10_000)
      const bToken = (await myTicket(api, b!, scheduleId)).body.token
      const hold = await holdSeat(api, b!, scheduleId, seatIds[0]!, bToken)
      assert.equal(hold.status, 201)
      // a hold alone does not free the slot
      await t.app.admission.tick()
      assert.equal((await myTicket(api, d!, scheduleId)).body.status, 'waiting')
      assert.equal((await pay(api, b!, hold.body.id, bToken)).status, 201)
      assert.equal((await myTicket(api, b!, scheduleId)).body.status, 'completed')
      await t.app.admission.tick()
      assert.equal((await myTicket(api, d!, scheduleId)).body.status, 'admitted')
      const status = await queueStatus(api, t.adminKey, scheduleId)
      assert.deepEqual([status.active, status.waiting, status.completed, status.left], [2, 0, 1, 1])
    })
  })

  describe(`waiting room admission rate [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'queue_rate', { QUEUE_ADMIT_PER_SECOND: 3, QUEUE_MAX_ACTIVE: 1000 })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('each round admits no more than the rate allows for the time since the last one', async () => {
      const { scheduleId } = await createSchedule(api, t.adminKey, { seats: 5 })
      const fans = await signUpMany(api, 12, 'rate')
      for (const fan of fans) await enterQueue(api, fan, scheduleId)
      const count = (r: Awaited<ReturnType<TestApp['app']['admission']['tick']>>) =>
        r.admitted.filter((a) => a.scheduleId === scheduleId).length

      // the opening round starts with one second of credit
      assert.equal(count(await t.app.admission.tick()), 3)
      // a round right after has (almost) no credit
      assert.equal(count(await t.app.admission.tick()), 0)
      await sleep(1_100)
      const third = count(await t.app.admission.tick())
      assert.ok(third >= 3 && third <= 6, `admitted ${third} after ~1.1 s at 3/s (burst cap 6)`)
      const status = await queueStatus(api, t.adminKey, scheduleId)
      assert.equal(status.active, 3 + third)
      assert.equal(status.waiting, 12 - 3 - third)
    })
  })

  describe(`waiting room positions and pre-queue [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'queue_positions', { QUEUE_ADMIT_PER_SECOND: 2, QUEUE_MAX_ACTIVE: 1 })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('position and estimated wait go down as those ahead are admitted', async () => {
      const { scheduleId } = await openSchedule(t, api)
      const fans = await signUpMany(api, 4, 'pos')
      for (const fan of fans) await enterQueue(api, fan, scheduleId)
      const start = await tickets(api, fans, scheduleId)
      assert.deepEqual(
        start.map((x) => x.position),
        [1, 2, 3, 4],
      )
      // estimated wait: position over 2 fans a second, rounded up
      assert.deepEqual(
        start.map((x) => x.estimatedWaitSeconds),
        [1, 1, 2, 2],
      )

      await sleep(600)
      await t.app.admission.tick()
      const mid = await tickets(api, fans, scheduleId)
      assert.equal(mid[0].status, 'admitted')
      assert.deepEqual(
        mid.slice(1).map((x) => [x.position, x.estimatedWaitSeconds]),
        [
          [1, 1],
          [2, 1],
          [3, 2],
        ],
      )

      await api.delete(`/schedules/${scheduleId}/queue/me`, { token: fans[0]!.token })
      await sleep(600)
      await t.app.admission.tick()
      const end = await tickets(api, fans, scheduleId)
      assert.equal(end[1].status, 'admitted')
      assert.deepEqual(
        end.slice(2).map((x) => [x.position, x.estimatedWaitSeconds]),
        [
          [1, 1],
          [2, 1],
        ],
      )
      const status = await queueStatus(api, t.adminKey, scheduleId)
      assert.equal(status.estimatedWaitForLastSeconds, 1)
    })

    test('before the sale opens no round places anyone', async () => {
      const { scheduleId } = await createSchedule(api, t.adminKey, {
        saleOpensAt: new Date(Date.now() + 3_600_000),
      })
      const [fan] = await signUpMany(api, 1, 'early')
      await enterQueue(api, fan!, scheduleId)
      await t.app.admission.tick()
      const ticket = (await myTicket(api, fan!, scheduleId)).body
      assert.equal(ticket.status, 'waiting')
      assert.equal(ticket.preQueue, true)
      assert.equal(ticket.position, null)
      const status = await queueStatus(api, t.adminKey, scheduleId)
      assert.equal(status.opened, false)
      assert.equal(status.waiting, 1)
    })

    test('fans who queue before the sale opens get places drawn at random at opening', async () => {
      const n = 60
      const fans = await signUpMany(api, n, 'pre')
      const opensAt = Date.now() + 1_500
      const { scheduleId } = await createSchedule(api, t.adminKey, { saleOpensAt: new Date(opensAt) })
      for (const fan of fans) {
        const res = await enterQueue(api, fan, scheduleId)
        assert.equal(res.status, 201)
        assert.equal(res.body.status, 'waiting')
        assert.equal(res.body.preQueue, true)
        assert.equal(res.body.position, null)
        assert.equal(res.body.estimatedWaitSeconds, null)
      }
      const before = await queueStatus(api, t.adminKey, scheduleId)
      assert.equal(before.opened, false)
      assert.equal(before.waiting, n)
      assert.equal(before.estimatedWaitForLastSeconds, n / 2)

      await sleep(Math.max(0, opensAt - Date.now() + 50))
      const round = await t.app.admission.tick()
      const first = round.admitted.filter((a) => a.scheduleId === scheduleId)
      assert.equal(first.length, 1, 'QUEUE_MAX_ACTIVE=1: one fan admitted at opening')

      const after = await tickets(api, fans, scheduleId)
      const admitted = after.filter((x) => x.status === 'admitted')
      assert.equal(admitted.length, 1)
      const waiting = after.filter((x) => x.status === 'waiting')
      assert.ok(waiting.every((x) => x.preQueue === false))
      assert.deepEqual(
        waiting.map((x) => x.position).sort((a, b) => a - b),
        Array.from({ length: n - 1 }, (_, i) => i + 1),
      )
      assert.ok(waiting.every((x) => x.estimatedWaitSeconds === Math.ceil(x.position / 2)))

      // the line from first to last: the admitted fan, then by position
      const rank = after.map((x) => (x.status === 'admitted' ? 0 : x.position))
      const order = fans.map((f, i) => ({ id: f.id, rank: rank[i] })).sort((a, b) => a.rank - b.rank)
      assert.equal(order[0]!.id, first[0]!.userId)
      const arrival = fans.map((f) => f.id)
      assert.deepEqual([...order.map((o) => o.id)].sort(), [...arrival].sort(), 'a permutation of the fans')
      assert.notDeepEqual(
        order.map((o) => o.id),
        arrival,
        'the drawn order is not arrival order (chance 1/60!)',
      )

      // whoever comes after opening queues behind the whole pre-queue
      const [late] = await signUpMany(api, 1, 'late')
      const res = await enterQueue(api, late!, scheduleId)
      assert.equal(res.body.preQueue, false)
      assert.equal(res.body.position, n)
    })
  })
}
