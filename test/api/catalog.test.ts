import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { adminHeaders, assertError, charge, createSchedule, holdSeat, pay, signUp } from '../support/flows.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

const day = 86_400_000

for (const kind of databaseKinds) {
  describe(`catalog [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      t = await startTestApp(kind, 'catalog', { QUEUE_ADMIT_PER_SECOND: 1000 })
      api = new Api(t.url)
    })
    after(() => t.close())

    async function newConcert(title = `Show ${randomUUID().slice(0, 8)}`) {
      const res = await api.post('/admin/concerts', {
        headers: adminHeaders(t.adminKey),
        body: { title, artist: 'The Testers', venue: 'Hall 1' },
      })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      return res.body as { id: string; title: string }
    }

    function postSchedule(concertId: string, body: unknown, key = t.adminKey) {
      return api.post(`/admin/concerts/${concertId}/schedules`, { headers: adminHeaders(key), body })
    }

    const validSchedule = (overrides: Record<string, unknown> = {}) => ({
      startsAt: new Date(Date.now() + 30 * day).toISOString(),
      saleOpensAt: new Date(Date.now() - 1000).toISOString(),
      seats: [{ grade: 'R', price: 100, count: 2 }],
      ...overrides,
    })

    test('admin endpoints need the right X-Admin-Key (401 ADMIN_KEY_INVALID), and create nothing without it', async () => {
      const body = { title: 'Nope', artist: 'x', venue: 'y' }
      assertError(await api.post('/admin/concerts', { body }), 401, 'ADMIN_KEY_INVALID')
      for (const key of ['wrong', `${t.adminKey}x`, t.adminKey.slice(1), t.adminKey.toUpperCase(), '']) {
        if (key === t.adminKey) continue
        assertError(
          await api.post('/admin/concerts', { headers: adminHeaders(key), body }),
          401,
          'ADMIN_KEY_INVALID',
        )
      }
      const concert = await newConcert()
      assertError(await postSchedule(concert.id, validSchedule(), 'wrong-key'), 401, 'ADMIN_KEY_INVALID')
      const fan = await signUp(api)
      // a fan's access token is not an organizer key
      assertError(await api.post('/admin/concerts', { token: fan.token, body }), 401, 'ADMIN_KEY_INVALID')
      const coupon = { name: 'c', discountType: 'fixed', discountValue: 1, totalQuantity: 1 }
      assertError(await api.post('/admin/coupons', { body: coupon }), 401, 'ADMIN_KEY_INVALID')
      const concerts = await api.get('/concerts?limit=500')
      assert.equal(concerts.body.concerts.filter((c: { title: string }) => c.title === 'Nope').length, 0)
      const detail = await api.get(`/concerts/${concert.id}`)
      assert.deepEqual(detail.body.schedules, [])
    })

    test('a concert and a schedule with several grades are created and read back', async () => {
      const concert = await newConcert()
      const startsAt = new Date(Date.now() + 10 * day)
      const saleOpensAt = new Date(Date.now() - 60_000)
      const res = await postSchedule(concert.id, {
        startsAt: startsAt.toISOString(),
        saleOpensAt: saleOpensAt.toISOString(),
        seats: [
          { grade: 'VIP', price: 200_000, count: 2 },
          { grade: 'R', price: 120_000, count: 3 },
          { grade: 'S', price: 80_000, count: 12, prefix: 'S1' },
        ],
      })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.equal(res.body.seatCount, 17)

      const detail = await api.get(`/concerts/${concert.id}`)
      assert.equal(detail.status, 200)
      assert.deepEqual(detail.body.concert, {
        id: concert.id,
        title: concert.title,
        artist: 'The Testers',
        venue: 'Hall 1',
      })
      assert.deepEqual(detail.body.schedules, [
        { id: res.body.id, startsAt: startsAt.toISOString(), saleOpensAt: saleOpensAt.toISOString() },
      ])

      const schedule = await api.get(`/schedules/${res.body.id}`)
      assert.equal(schedule.status, 200)
      assert.equal(schedule.body.concert.id, concert.id)
      assert.equal(schedule.body.saleOpen, true)
      assert.deepEqual(schedule.body.seats, { total: 17, available: 17, held: 0, sold: 0 })

      const seats = await api.get(`/schedules/${res.body.id}/seats`)
      assert.equal(seats.body.seats.length, 17)
      const byGrade = (grade: string) => seats.body.seats.filter((s: { grade: string }) => s.grade === grade)
      assert.deepEqual(
        byGrade('VIP').map((s: { label: string; price: number }) => [s.label, s.price]),
        [
          ['VIP-1', 200_000],
          ['VIP-2', 200_000],
        ],
      )
      assert.equal(byGrade('R').length, 3)
      // labels in natural order: S1-2 before S1-10
      assert.deepEqual(
        byGrade('S').map((s: { label: string }) => s.label),
        Array.from({ length: 12 }, (_, i) => `S1-${i + 1}`),
      )
      assert.ok(seats.body.seats.every((s: { status: string }) => s.status === 'available'))
      assert.equal(new Set(seats.body.seats.map((s: { id: string }) => s.id)).size, 17)
    })

    test('a schedule whose sale opens later says so', async () => {
      const concert = await newConcert()
      const res = await postSchedule(
        concert.id,
        validSchedule({ saleOpensAt: new Date(Date.now() + day).toISOString() }),
      )
      assert.equal(res.status, 201)
      const schedule = await api.get(`/schedules/${res.body.id}`)
      assert.equal(schedule.body.saleOpen, false)
    })

    test('/concerts lists concerts newest first and honours limit', async () => {
      const a = await newConcert()
      const b = await newConcert()
      const all = await api.get('/concerts')
      assert.equal(all.status, 200)
      const ids = all.body.concerts.map((c: { id: string }) => c.id)
      assert.ok(ids.includes(a.id) && ids.includes(b.id))
      assert.ok(ids.indexOf(b.id) < ids.indexOf(a.id), 'newest first')
      const one = await api.get('/concerts?limit=1')
      assert.equal(one.body.concerts.length, 1)
    })

    test('concerts created in the same instant are listed newest first too, the same way every time', async () => {
      // PGlite's clock counts milliseconds, and one transaction's rows share its now(): created_at ties. The ids are
      // UUIDv7, in creation order, and break them.
      const a = await newConcert()
      const b = await newConcert()
      await sql`update concerts set created_at = ${new Date(Date.now() + 86_400_000)} where id in (${a.id}, ${b.id})`.execute(
        t.app.database.db,
      )
      for (let i = 0; i < 3; i++) {
        const ids = (await api.get('/concerts?limit=2')).body.concerts.map((c: { id: string }) => c.id)
        assert.deepEqual(ids, [b.id, a.id])
      }
    })

    test('seat status and schedule counts follow holds and sales live', async () => {
      const { scheduleId, seatIds } = await createSchedule(api, t.adminKey, { seats: 4, price: 1_000 })
      const fan = await signUp(api)
      await charge(api, fan, 10_000)
      const [queueToken] = await admitFans(t, api, scheduleId, [fan])
      const held = await holdSeat(api, fan, scheduleId, seatIds[0]!, queueToken!)
      const sold = await holdSeat(api, fan, scheduleId, seatIds[1]!, queueToken!)
      assert.equal((await pay(api, fan, sold.body.id, queueToken!)).status, 201)
      const seats = await api.get(`/schedules/${scheduleId}/seats`)
      const status = Object.fromEntries(
        seats.body.seats.map((s: { id: string; status: string }) => [s.id, s.status]),
      )
      assert.equal(status[seatIds[0]!], 'held')
      assert.equal(status[seatIds[1]!], 'sold')
      assert.equal(status[seatIds[2]!], 'available')
      const schedule = await api.get(`/schedules/${scheduleId}`)
      assert.deepEqual(schedule.body.seats, { total: 4, available: 2, held: 1, sold: 1 })
      assert.equal((await api.delete(`/reservations/${held.body.id}`, { token: fan.token })).status, 204)
      const after = await api.get(`/schedules/${scheduleId}`)
      assert.deepEqual(after.body.seats, { total: 4, available: 3, held: 0, sold: 1 })
    })

    test('unknown ids answer 404 with the right code', async () => {
      const id = randomUUID()
      assertError(await api.get(`/concerts/${id}`), 404, 'CONCERT_NOT_FOUND')
      assertError(await api.get(`/schedules/${id}`), 404, 'SCHEDULE_NOT_FOUND')
      assertError(await api.get(`/schedules/${id}/seats`), 404, 'SCHEDULE_NOT_FOUND')
      assertError(await postSchedule(id, validSchedule()), 404, 'CONCERT_NOT_FOUND')
    })

    test('saleOpensAt after startsAt answers 400 naming saleOpensAt, and creates nothing', async () => {
      const concert = await newConcert()
      const res = await postSchedule(
        concert.id,
        validSchedule({
          startsAt: new Date(Date.now() + day).toISOString(),
          saleOpensAt: new Date(Date.now() + 2 * day).toISOString(),
        }),
      )
      assertError(res, 400, 'VALIDATION_FAILED')
      assert.equal(res.body.details.field, 'saleOpensAt')
      assert.deepEqual((await api.get(`/concerts/${concert.id}`)).body.schedules, [])
    })

    test('bad schedule input answers 400 naming the field, never 500', async () => {
      const concert = await newConcert()
      const cases: [Record<string, unknown>, string][] = [
        [validSchedule({ startsAt: 'next friday' }), 'startsAt'],
        [validSchedule({ saleOpensAt: undefined }), 'saleOpensAt'],
        [validSchedule({ seats: [] }), 'seats'],
        [validSchedule({ seats: [{ grade: 'R', price: 100, count: 0 }] }), 'seats.0.count'],
        [validSchedule({ seats: [{ grade: 'R', price: -1, count: 1 }] }), 'seats.0.price'],
        [validSchedule({ seats: [{ grade: 'R', price: 1.5, count: 1 }] }), 'seats.0.price'],
        [validSchedule({ seats: [{ grade: 'R', price: 1, count: 5001 }] }), 'seats.0.count'],
        [validSchedule({ seats: [{ grade: '', price: 1, count: 1 }] }), 'seats.0.grade'],
        [validSchedule({ seats: [{ price: 1, count: 1 }] }), 'seats.0.grade'],
        [validSchedule({ seats: [{ grade: 'R', price: 1, count: 1, prefix: 'A-1' }] }), 'seats.0.prefix'],
        [validSchedule({ seats: [{ grade: 'R', price: 1, count: 1, color: 'red' }] }), 'seats.0.color'],
        // two blocks of one grade without prefixes would both be labelled R-1..
        [
          validSchedule({
            seats: [
              { grade: 'R', price: 1, count: 2 },
              { grade: 'R', price: 2, count: 2 },
            ],
          }),
          'seats',
        ],
        // a leap second matches the date-time format, but no clock has it
        [
          validSchedule({ startsAt: '2030-06-30T23:59:60Z', saleOpensAt: '2030-06-30T23:59:60Z' }),
          'startsAt',
        ],
      ]
      for (const [body, field] of cases) {
        const res = await postSchedule(concert.id, body)
        assertError(res, 400, 'VALIDATION_FAILED')
        assert.equal(res.body.details?.field, field, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`)
      }
      assert.deepEqual((await api.get(`/concerts/${concert.id}`)).body.schedules, [])
    })

    test('values the database cannot store answer 400, never 500', async () => {
      const nul = await api.post('/admin/concerts', {
        headers: adminHeaders(t.adminKey),
        body: { title: 'Null\u0000Byte', artist: 'x', venue: 'y' },
      })
      assertError(nul, 400, 'VALIDATION_FAILED')
      const concert = await newConcert()
      const yearZero = await postSchedule(
        concert.id,
        validSchedule({ saleOpensAt: '0000-01-01T00:00:00Z', startsAt: '0000-01-02T00:00:00Z' }),
      )
      assert.ok(yearZero.status === 201 || yearZero.status === 400, JSON.stringify(yearZero.body))
      if (yearZero.status === 400) assert.equal(yearZero.body.code, 'VALIDATION_FAILED')
    })

    test('concert input is validated', async () => {
      for (const body of [
        { title: '', artist: 'a', venue: 'v' },
        { title: 'x'.repeat(201), artist: 'a', venue: 'v' },
        { artist: 'a', venue: 'v' },
        { title: { text: 'x' }, artist: 'a', venue: 'v' },
        [],
      ]) {
        const res = await api.post('/admin/concerts', { headers: adminHeaders(t.adminKey), body })
        assertError(res, 400, 'VALIDATION_FAILED')
      }
    })

    test('malformed JSON answers 400 MALFORMED_JSON', async () => {
      for (const raw of ['{"title": "x",', '{title: x}', 'undefined', '']) {
        const res = await api.post('/admin/concerts', { headers: adminHeaders(t.adminKey), raw })
        assertError(res, 400, 'MALFORMED_JSON')
      }
    })

    test('a body that is not JSON answers 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      for (const contentType of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
        const res = await api.post('/admin/concerts', {
          headers: { ...adminHeaders(t.adminKey), 'content-type': contentType },
          raw: 'title=x',
        })
        assertError(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
      }
      const json = await api.post('/admin/concerts', {
        headers: { ...adminHeaders(t.adminKey), 'content-type': 'application/json; charset=utf-8' },
        raw: JSON.stringify({ title: 'Charset', artist: 'a', venue: 'v' }),
      })
      assert.equal(json.status, 201)
    })

    test('a body over the size limit answers 413 PAYLOAD_TOO_LARGE', async () => {
      const res = await api.post('/admin/concerts', {
        headers: adminHeaders(t.adminKey),
        body: { title: 'x'.repeat(70_000), artist: 'a', venue: 'v' },
      })
      assertError(res, 413, 'PAYLOAD_TOO_LARGE')
    })

    test('a path parameter that is not a uuid answers 400 VALIDATION_FAILED naming it', async () => {
      for (const [path, field] of [
        ['/concerts/42', 'concertId'],
        ['/schedules/not-a-uuid', 'scheduleId'],
        ['/schedules/not-a-uuid/seats', 'scheduleId'],
        [`/rankings/schedules/${randomUUID()}x`, 'scheduleId'],
      ] as [string, string][]) {
        const res = await api.get(path)
        assertError(res, 400, 'VALIDATION_FAILED')
        assert.equal(res.body.details.field, field)
        assert.equal(res.body.details.location, 'params')
      }
    })

    test('an unknown route answers 404 ROUTE_NOT_FOUND', async () => {
      assertError(await api.get('/nope'), 404, 'ROUTE_NOT_FOUND')
      assertError(await api.post('/concerts'), 404, 'ROUTE_NOT_FOUND')
      assertError(await api.delete('/concerts'), 404, 'ROUTE_NOT_FOUND')
      assertError(await api.get('/admin'), 404, 'ROUTE_NOT_FOUND')
    })
  })
}
