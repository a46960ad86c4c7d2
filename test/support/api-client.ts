import { randomUUID } from 'node:crypto'

export interface ApiResponse<T = any> {
  status: number
  body: T
  headers: Headers
}

/** A tiny JSON client over real HTTP (Node's fetch), so tests see exactly what a fan's app sees. */
export class Api {
  readonly baseUrl: string
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl
  }

  async request<T = any>(
    method: string,
    path: string,
    options: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token) headers.authorization = `Bearer ${options.token}`
    let body: string | undefined
    if (options.raw !== undefined) {
      body = options.raw
      headers['content-type'] ??= 'application/json'
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers['content-type'] = 'application/json'
    }
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      // not JSON (metrics, docs)
    }
    return { status: response.status, body: parsed as T, headers: response.headers }
  }

  get<T = any>(path: string, options?: Parameters<Api['request']>[2]) {
    return this.request<T>('GET', path, options)
  }
  post<T = any>(path: string, options?: Parameters<Api['request']>[2]) {
    return this.request<T>('POST', path, options)
  }
  delete<T = any>(path: string, options?: Parameters<Api['request']>[2]) {
    return this.request<T>('DELETE', path, options)
  }
}

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

/** A concert with one schedule whose sale is open (or opens at `saleOpensAt`). */
export async function createSchedule(
  api: Api,
  adminKey: string,
  options: { seats?: number; price?: number; saleOpensAt?: Date } = {},
): Promise<{ concertId: string; scheduleId: string; seatIds: string[] }> {
  const headers = { 'x-admin-key': adminKey }
  const concert = await api.post('/admin/concerts', {
    headers,
    body: { title: `Show ${randomUUID().slice(0, 8)}`, artist: 'Test Artist', venue: 'Test Hall' },
  })
  if (concert.status !== 201) throw new Error(`concert: ${concert.status} ${JSON.stringify(concert.body)}`)
  const schedule = await api.post(`/admin/concerts/${concert.body.id}/schedules`, {
    headers,
    body: {
      startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      saleOpensAt: (options.saleOpensAt ?? new Date(Date.now() - 1000)).toISOString(),
      seats: [{ grade: 'R', price: options.price ?? 100_000, count: options.seats ?? 50 }],
    },
  })
  if (schedule.status !== 201)
    throw new Error(`schedule: ${schedule.status} ${JSON.stringify(schedule.body)}`)
  const seats = await api.get(`/schedules/${schedule.body.id}/seats`)
  return {
    concertId: concert.body.id,
    scheduleId: schedule.body.id,
    seatIds: seats.body.seats.map((s: { id: string }) => s.id),
  }
}
