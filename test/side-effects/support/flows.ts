import { randomUUID } from 'node:crypto'
import type { ApiResponse } from '../../support/api-client.ts'
import type { SideEffectApp } from './harness.ts'

export interface Show {
  concertId: string
  scheduleId: string
  title: string
  startsAt: string
  seats: { id: string; label: string }[]
}

/** A fan as the tests drive them: an access token, and a queue token once admitted. */
export interface Buyer {
  id: string
  token: string
  queueToken: string
}

const admin = (t: SideEffectApp) => ({ 'x-admin-key': t.adminKey })

/** A concert with one schedule on sale now, its title and seats known to the test. */
export async function createShow(
  t: SideEffectApp,
  options: { seats: number; price?: number; title?: string },
): Promise<Show> {
  const title = options.title ?? `Side Effects Live ${randomUUID().slice(0, 8)}`
  const concert = await t.api.post('/admin/concerts', {
    headers: admin(t),
    body: { title, artist: 'Loopback Band', venue: 'Test Hall' },
  })
  if (concert.status !== 201) throw new Error(`concert: ${concert.status} ${JSON.stringify(concert.body)}`)
  const startsAt = new Date(Date.now() + 30 * 86_400_000)
  startsAt.setUTCSeconds(0, 0)
  const schedule = await t.api.post(`/admin/concerts/${concert.body.id}/schedules`, {
    headers: admin(t),
    body: {
      startsAt: startsAt.toISOString(),
      saleOpensAt: new Date(Date.now() - 1000).toISOString(),
      seats: [{ grade: 'R', price: options.price ?? 100_000, count: options.seats }],
    },
  })
  if (schedule.status !== 201)
    throw new Error(`schedule: ${schedule.status} ${JSON.stringify(schedule.body)}`)
  const seats = await t.api.get(`/schedules/${schedule.body.id}/seats`)
  return {
    concertId: concert.body.id,
    scheduleId: schedule.body.id,
    title,
    startsAt: startsAt.toISOString(),
    seats: seats.body.seats.map((s: { id: string; label: string }) => ({ id: s.id, label: s.label })),
  }
}

export async function createCoupon(
  t: SideEffectApp,
  options: {
    name: string
    totalQuantity: number
    discountType?: 'fixed' | 'percent'
    discountValue?: number
  },
): Promise<{ id: string; name: string }> {
  const res = await t.api.post('/admin/coupons', {
    headers: admin(t),
    body: {
      name: options.name,
      discountType: options.discountType ?? 'fixed',
      discountValue: options.discountValue ?? 10_000,
      totalQuantity: options.totalQuantity,
    },
  })
  if (res.status !== 201) throw new Error(`coupon: ${res.status} ${JSON.stringify(res.body)}`)
  return { id: res.body.id, name: options.name }
}

export function hold(
  t: SideEffectApp,
  buyer: Buyer,
  scheduleId: string,
  seatId: string,
): Promise<ApiResponse> {
  return t.api.post(`/schedules/${scheduleId}/seats/${seatId}/hold`, {
    token: buyer.token,
    headers: { 'x-queue-token': buyer.queueToken },
  })
}

export function pay(
  t: SideEffectApp,
  buyer: Buyer,
  reservationId: string,
  couponId?: string,
): Promise<ApiResponse> {
  return t.api.post(`/reservations/${reservationId}/payment`, {
    token: buyer.token,
    headers: { 'x-queue-token': buyer.queueToken, 'idempotency-key': randomUUID() },
    body: couponId ? { couponId } : {},
  })
}

/** Holds a seat and pays for it at once; throws unless both succeed. */
export async function buy(
  t: SideEffectApp,
  buyer: Buyer,
  scheduleId: string,
  seatId: string,
  couponId?: string,
): Promise<{ reservationId: string; receipt: any; payMs: number }> {
  const held = await hold(t, buyer, scheduleId, seatId)
  if (held.status !== 201) throw new Error(`hold: ${held.status} ${JSON.stringify(held.body)}`)
  const started = performance.now()
  const paid = await pay(t, buyer, held.body.id, couponId)
  const payMs = performance.now() - started
  if (paid.status !== 201) throw new Error(`payment: ${paid.status} ${JSON.stringify(paid.body)}`)
  return { reservationId: held.body.id, receipt: paid.body, payMs }
}

/** The inbox of a buyer through the API. */
export async function inbox(t: SideEffectApp, buyer: { id: string; token: string }): Promise<any[]> {
  const res = await t.api.get(`/users/${buyer.id}/notifications?limit=500`, { token: buyer.token })
  if (res.status !== 200) throw new Error(`inbox: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.notifications
}

/** How the composer prints a time in messages ("2026-12-25 19:00 UTC"). */
export function shownTime(iso: string): string {
  return `${new Date(iso).toISOString().replace('T', ' ').slice(0, 16)} UTC`
}
