import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { buildEvent } from '../../src/events/envelope.ts'
import { RecentlyParsed } from '../../src/events/runtime/consumer-runtime.ts'
import type { TransportRecord } from '../../src/events/transport/port.ts'
import { NonRetryableError } from '../../src/platform/errors.ts'

function held(): string {
  const reservationId = randomUUID()
  return JSON.stringify(
    buildEvent('reservation.held', reservationId, {
      reservationId,
      scheduleId: randomUUID(),
      seatId: randomUUID(),
      userId: randomUUID(),
      price: 100_000,
      expiresAt: new Date().toISOString(),
    }),
  )
}

/** A record as a group's own fetch hands it over: a string of its own, equal in content to another group's. */
const record = (value: string, offset: bigint, partition = 0): TransportRecord => ({
  topic: 'reservation.held',
  partition,
  offset,
  key: 'k',
  value: value.split('').join(''),
  headers: {},
  timestamp: Date.now(),
})

describe('RecentlyParsed', () => {
  test('the groups reading one record share one parse of it, frozen', () => {
    const parsed = new RecentlyParsed()
    const value = held()
    const first = parsed.parse(record(value, 7n), 'reservation.held')
    const second = parsed.parse(record(value, 7n), 'reservation.held')
    assert.equal(second, first)
    assert.deepEqual(first, JSON.parse(value))
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.data))
    assert.throws(() => {
      ;(first.data as { price: number }).price = 0
    }, TypeError)
  })

  test('other bytes at the same place, another place or another expected type are parsed anew', () => {
    const parsed = new RecentlyParsed()
    const value = held()
    const first = parsed.parse(record(value, 7n), 'reservation.held')
    // A topic deleted and created again: offset 7 holds another event.
    const other = held()
    const replaced = parsed.parse(record(other, 7n), 'reservation.held')
    assert.notEqual(replaced, first)
    assert.deepEqual(replaced, JSON.parse(other))
    assert.notEqual(parsed.parse(record(value, 7n, 1), 'reservation.held'), first)
    assert.throws(() => parsed.parse(record(value, 7n), 'reservation.confirmed'), NonRetryableError)
  })

  test('a record that fails is refused every time, never remembered', () => {
    const parsed = new RecentlyParsed()
    for (let i = 0; i < 2; i++) {
      assert.throws(() => parsed.parse(record('not json', 3n), 'reservation.held'), /not JSON/)
      assert.throws(
        () => parsed.parse(record(JSON.stringify({ specversion: '1.0' }), 4n), 'reservation.held'),
        NonRetryableError,
      )
    }
  })

  test('it keeps at most two generations of records', () => {
    const parsed = new RecentlyParsed(4)
    const values = Array.from({ length: 9 }, () => held())
    const events = values.map((v, i) => parsed.parse(record(v, BigInt(i)), 'reservation.held'))
    // 0–3 were the first generation, 4–7 the second; the ninth record dropped the first.
    assert.notEqual(parsed.parse(record(values[0]!, 0n), 'reservation.held'), events[0])
    assert.equal(parsed.parse(record(values[5]!, 5n), 'reservation.held'), events[5])
    assert.equal(parsed.parse(record(values[8]!, 8n), 'reservation.held'), events[8])
  })
})
