import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { Api, ApiResponse, Fan } from '../support/api-client.ts'

/** Small request helpers shared by the API tests; each one does exactly one HTTP call. */

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
  input: { discountType: 'fixed' | 'percent'; discountValue: number; totalQuantity?: number; name?: string },
): Promise<{ id: string }> {
  const res = await api.post('/admin/coupons', {
    headers: adminHeaders(adminKey),
    body: { name: input.name ?? `coupon ${randomUUID().slice(0, 8)}`, totalQuantity: 100, ...input },
  })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  return res.body
}

export function grantCoupon(api: Api, adminKey: string, couponId: string, userId: string) {
  return api.post(`/admin/coupons/${couponId}/grants`, { headers: adminHeaders(adminKey), body: { userId } })
}

export function holdSeat(api: Api, fan: Fan, scheduleId: string, seatId: string, queueToken: string) {
  return api.post(`/schedules/${scheduleId}/seats/${seatId}/hold`, {
    token: fan.token,
    headers: { 'x-queue-token': queueToken },
  })
}

export function pay(
  api: Api,
  fan: Fan,
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
