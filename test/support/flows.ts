import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { Db } from '../../src/platform/db.ts'
import type { Api, ApiResponse } from './api-client.ts'

/** What the tests do as fans and organizers, one HTTP call per helper unless it says otherwise. */

export interface Fan {
  id: string
  email: string
  token: string
}

export async function signUp(api: Api, label = 'fan'): Promise<Fan> {
  const email = `${label}-${randomUUID()}@test.example`
  const res = await api.post('/auth/sign-up', {
    body: { email, name: label, password: 'correct horse battery' },
  })
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${JSON.stringify(res.body)}`)
  return { id: res.body.user.id, email, token: res.body.accessToken }
}

export async function charge(api: Api, fan: Fan, amount: number): Promise<void> {
  const res = await api.post(`/users/${fan.id}/wallet/charges`, {
    token: fan.token,
    headers: { 'idempotency-key': randomUUID() },
    body: { amount },
  })
  if (res.status !== 201) throw new Error(`charge failed: ${res.status} ${JSON.stringify(res.body)}`)
}

/** A fan as the tests drive them: an access token, and a queue token once admitted. */
export interface Buyer {
  id: string
  token: string
  queueToken: string
}

export interface Show {
  concertId: string
  scheduleId: string
  title: string
  startsAt: string
  seatIds: string[]
  seats: { id: string; label: string }[]
}

/** A concert with one schedule whose sale is open (or opens at `saleOpensAt`); starts on a whole minute. */
export async function createSchedule(
  api: Api,
  adminKey: string,
  options: { seats?: number; price?: number; saleOpensAt?: Date; title?: string } = {},
): Promise<Show> {
  const headers = { 'x-admin-key': adminKey }
  const title = options.title ?? `Show ${randomUUID().slice(0, 8)}`
  const startsAt = new Date(Date.now() + 30 * 86_400_000)
  startsAt.setUTCSeconds(0, 0)
  const concert = await api.post('/admin/concerts', {
    headers,
    body: { title, artist: 'Test Artist', venue: 'Test Hall' },
  })
  if (concert.status !== 201) throw new Error(`concert: ${concert.status} ${JSON.stringify(concert.body)}`)
  const schedule = await api.post(`/admin/concerts/${concert.body.id}/schedules`, {
    headers,
    body: {
      startsAt: startsAt.toISOString(),
      saleOpensAt: (options.saleOpensAt ?? new Date(Date.now() - 1000)).toISOString(),
      seats: [{ grade: 'R', price: options.price ?? 100_000, count: options.seats ?? 50 }],
    },
  })
  if (schedule.status !== 201)
    throw new Error(`schedule: ${schedule.status} ${JSON.stringify(schedule.body)}`)
  const seats = await api.get(`/schedules/${schedule.body.id}/seats`)
  const list = seats.body.seats.map((s: { id: string; label: string }) => ({ id: s.id, label: s.label }))
  return {
    concertId: concert.body.id,
    scheduleId: schedule.body.id,
    title,
    startsAt: startsAt.toISOString(),
    seatIds: list.map((s: { id: string }) => s.id),
    seats: list,
  }
}

export function adminHeaders(adminKey: string): Record<string, string> {
  return { 'x-admin-key': adminKey }
}

/** Asserts an error answer: status and the catalog code, with the body in the failure message. */
export function assertError(res: ApiResponse, status: number, code: string): void {
  assert.equal(
    res.status,
    status,
    `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`,
  )
  assert.equal(res.body?.code, code, JSON.stringify(res.body))
  assert.equal(typeof res.body.message, 'string')
}

export async function createCoupon(
  api: Api,
  adminKey: string,
  input: {
    discountType?: 'fixed' | 'percent'
    discountValue?: number
    totalQuantity?: number
    name?: string
  },
): Promise<{ id: string; name: string }> {
  const res = await api.post('/admin/coupons', {
    headers: adminHeaders(adminKey),
    body: {
      name: `coupon ${randomUUID().slice(0, 8)}`,
      totalQuantity: 100,
      discountType: 'fixed',
      discountValue: 10_000,
      ...input,
    },
  })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  return res.body
}

export function grantCoupon(api: Api, adminKey: string, couponId: string, userId: string) {
  return api.post(`/admin/coupons/${couponId}/grants`, { headers: adminHeaders(adminKey), body: { userId } })
}

export function holdSeat(
  api: Api,
  fan: { token: string },
  scheduleId: string,
  seatId: string,
  queueToken: string,
) {
  return api.post(`/schedules/${scheduleId}/seats/${seatId}/hold`, {
    token: fan.token,
    headers: { 'x-queue-token': queueToken },
  })
}

export function pay(
  api: Api,
  fan: { token: string },
  reservationId: string,
  queueToken: string,
  options: { key?: string; couponId?: string } = {},
) {
  return api.post(`/reservations/${reservationId}/payment`, {
    token: fan.token,
    headers: { 'x-queue-token': queueToken, 'idempotency-key': options.key ?? randomUUID() },
    body: options.couponId ? { couponId: options.couponId } : {},
  })
}

export async function balanceOf(api: Api, fan: Fan): Promise<number> {
  const res = await api.get(`/users/${fan.id}/wallet`, { token: fan.token })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.balance
}

export async function seatStatus(api: Api, scheduleId: string, seatId: string): Promise<string> {
  const res = await api.get(`/schedules/${scheduleId}/seats`)
  assert.equal(res.status, 200)
  const seat = res.body.seats.find((s: { id: string }) => s.id === seatId)
  assert.ok(seat, `seat ${seatId} listed`)
  return seat.status
}

export function enterQueue(api: Api, fan: Fan, scheduleId: string) {
  return api.post(`/schedules/${scheduleId}/queue`, { token: fan.token })
}

export function myTicket(api: Api, fan: Fan, scheduleId: string) {
  return api.get(`/schedules/${scheduleId}/queue/me`, { token: fan.token })
}

export async function queueStatus(api: Api, adminKey: string, scheduleId: string) {
  const res = await api.get(`/admin/schedules/${scheduleId}/queue`, { headers: adminHeaders(adminKey) })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Holds a seat and pays for it at once; throws unless both succeed. */
export async function buy(
  api: Api,
  buyer: { token: string; queueToken: string },
  scheduleId: string,
  seatId: string,
  couponId?: string,
): Promise<{ reservationId: string; receipt: any; payMs: number }> {
  const held = await holdSeat(api, buyer, scheduleId, seatId, buyer.queueToken)
  if (held.status !== 201) throw new Error(`hold: ${held.status} ${JSON.stringify(held.body)}`)
  const started = performance.now()
  const paid = await pay(api, buyer, held.body.id, buyer.queueToken, couponId ? { couponId } : {})
  const payMs = performance.now() - started
  if (paid.status !== 201) throw new Error(`payment: ${paid.status} ${JSON.stringify(paid.body)}`)
  return { reservationId: held.body.id, receipt: paid.body, payMs }
}

/** A user's inbox through the API. */
export async function inbox(api: Api, user: { id: string; token: string }): Promise<any[]> {
  const res = await api.get(`/users/${user.id}/notifications?limit=500`, { token: user.token })
  if (res.status !== 200) throw new Error(`inbox: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.notifications
}

/**
 * A dead letter as a consumer group leaves one after its last retry, written directly: the console and the alerts
 * show what the table holds, whichever handler gave up.
 */
export async function insertDeadLetter(
  db: Db,
  letter: { groupId: string; topic: string; key: string; error: string; value: unknown },
): Promise<void> {
  await db
    .insertInto('dead_letters')
    .values({
      id: randomUUID(),
      group_id: letter.groupId,
      original_topic: letter.topic,
      original_partition: 2,
      original_offset: '41',
      key: letter.key,
      event_id: randomUUID(),
      event_type: letter.topic,
      value: JSON.stringify(letter.value),
      error: letter.error,
      attempts: 4,
      first_failed_at: new Date(),
      last_failed_at: new Date(),
    })
    .execute()
}
