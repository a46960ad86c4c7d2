import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { version as uuidVersion, validate as validUuid } from 'uuid'
import { buildEvent, EVENT_SOURCE, EventSchemaError } from '../../src/events/envelope.ts'

function heldData() {
  return {
    reservationId: randomUUID(),
    scheduleId: randomUUID(),
    seatId: randomUUID(),
    userId: randomUUID(),
    price: 100_000,
    expiresAt: new Date().toISOString(),
  }
}

describe('buildEvent', () => {
  test('builds a CloudEvents 1.0 envelope around the data', () => {
    const data = heldData()
    const time = new Date('2030-01-02T03:04:05.678Z')
    const event = buildEvent('reservation.held', data.reservationId, data, { time })
    assert.equal(event.specversion, '1.0')
    assert.equal(event.source, EVENT_SOURCE)
    assert.equal(event.type, 'reservation.held')
    assert.equal(event.subject, data.reservationId)
    assert.equal(event.time, '2030-01-02T03:04:05.678Z')
    assert.equal(event.datacontenttype, 'application/json')
    assert.equal(event.dataschemaversion, 1)
    assert.deepEqual(event.data, data)
    assert.equal('traceparent' in event, false)
  })

  test('the id is a UUIDv7, new for each event, in creation order', () => {
    const ids = Array.from({ length: 50 }, () => buildEvent('reservation.held', 'x', heldData()).id)
    for (const id of ids) {
      assert.ok(validUuid(id), id)
      assert.equal(uuidVersion(id), 7)
    }
    assert.equal(new Set(ids).size, ids.length)
    assert.deepEqual([...ids].sort(), ids)
  })

  test('time defaults to now', () => {
    const before = Date.now()
    const event = buildEvent('reservation.held', 'x', heldData())
    const at = Date.parse(event.time)
    assert.ok(at >= before && at <= Date.now())
  })

  test('a traceparent is carried when given', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    assert.equal(buildEvent('reservation.held', 'x', heldData(), { traceparent }).traceparent, traceparent)
  })

  test('data that does not fit the type schema throws EventSchemaError naming the field', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['missing field', { ...heldData(), price: undefined }, /price/],
      ['wrong type', { ...heldData(), price: '100' }, /price/],
      ['fraction for an integer', { ...heldData(), price: 1.5 }, /price/],
      ['not a uuid', { ...heldData(), seatId: 'seat-1' }, /seatId/],
      ['not a date-time', { ...heldData(), expiresAt: 'tomorrow' }, /expiresAt/],
    ]
    for (const [name, data, field] of cases) {
      if (data.price === undefined) delete data.price
      assert.throws(
        () => buildEvent('reservation.held', 'x', data as never),
        (error: unknown) => {
          assert.ok(error instanceof EventSchemaError, `${name}: ${error}`)
          assert.match(error.message, /reservation\.held/)
          assert.match(error.message, field, `${name}: ${error.message}`)
          return true
        },
      )
    }
  })

  test('an unknown event type throws EventSchemaError', () => {
    assert.throws(() => buildEvent('seat.teleported' as never, 'x', {} as never), EventSchemaError)
  })

  test('every kind of event the core emits validates with realistic data', () => {
    const id = () => randomUUID()
    const now = new Date().toISOString()
    buildEvent('points.charged', id(), { userId: id(), amount: 5, balance: 5, ledgerId: 1 })
    buildEvent('queue.entered', 'k', { scheduleId: id(), userId: id(), preQueue: true, enteredAt: now })
    buildEvent('queue.admitted', 'k', { scheduleId: id(), userId: id(), seq: 1, admittedUntil: now })
    buildEvent('reservation.confirmed', id(), {
      reservationId: id(),
      paymentId: id(),
      scheduleId: id(),
      concertId: id(),
      seatId: id(),
      seatLabel: 'R-1',
      userId: id(),
      price: 100,
      discount: 10,
      amount: 90,
      couponId: null,
      confirmedAt: now,
    })
  })
})
