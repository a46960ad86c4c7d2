// The service's own API, as the app calls it: the session in localStorage, JSON in and out, push streams.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`)
    this.status = status
    this.code = body?.code ?? 'HTTP_ERROR'
    this.body = body
  }
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem('session') ?? 'null')
  } catch {
    return null
  }
}

export function setSession(value) {
  if (value) localStorage.setItem('session', JSON.stringify(value))
  else localStorage.removeItem('session')
}

let navigation = 0

/**
 * Marks a navigation (the router calls it before it shows a page). A read started before it that answers after it
 * never settles, so a page the fan has left cannot draw over the one they went to (a slow concert list replacing the
 * sign-in form a quick fan opened meanwhile). Writes always settle: their outcome matters wherever the fan is.
 */
export function navigated() {
  navigation++
}

/** Calls the API; throws ApiError with the catalog code for any answer that is not 2xx. */
export async function api(method, path, options = {}) {
  const at = navigation
  const answer = call(method, path, options)
  if (method !== 'GET') return answer
  const settled = await answer.then(
    (value) => ({ value }),
    (error) => ({ error }),
  )
  if (at !== navigation) return new Promise(() => {})
  if ('error' in settled) throw settled.error
  return settled.value
}

async function call(method, path, { body, headers = {} } = {}) {
  const s = session()
  const res = await fetch(path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(s ? { authorization: `Bearer ${s.accessToken}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  const data = text ? JSON.parse(text) : undefined
  if (!res.ok) {
    if (res.status === 401 && data?.code === 'UNAUTHENTICATED') setSession(null)
    throw new ApiError(res.status, data)
  }
  return data
}

/**
 * Opens a push stream (Server-Sent Events) with a fresh stream token. EventSource reconnects by itself after a
 * network break; when the server refuses (an expired token, a full instance) it gives up, so this opens it again
 * with a new token after a pause. `handlers` maps event names to functions of the parsed data.
 */
export function openStream(path, handlers, onState = () => {}) {
  let source
  let stopped = false
  let retry = 500
  const connect = async () => {
    if (stopped) return
    let token
    try {
      token = (await api('POST', '/streams/tokens')).token
    } catch {
      onState('reconnecting')
      setTimeout(connect, retry)
      retry = Math.min(retry * 2, 10_000)
      return
    }
    if (stopped) return
    source = new EventSource(`${path}?token=${encodeURIComponent(token)}`)
    source.onopen = () => {
      retry = 500
      onState('open')
    }
    source.onerror = () => {
      onState('reconnecting')
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, retry)
        retry = Math.min(retry * 2, 10_000)
      }
    }
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => handle(JSON.parse(event.data)))
    }
  }
  connect()
  return () => {
    stopped = true
    source?.close()
  }
}
