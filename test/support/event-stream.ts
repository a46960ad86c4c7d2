/** A Server-Sent Events client for tests: what a browser's EventSource does, over fetch, with every event kept. */
export interface StreamedEvent {
  event: string
  data: any
  at: number
}

export interface OpenedStream {
  readonly status: number
  /** The JSON error body when the stream was refused. */
  readonly body: any
  readonly events: StreamedEvent[]
  /** Resolves with the first event (already received or to come) that matches, or rejects after `timeoutMs`. */
  next(match: (e: StreamedEvent) => boolean, timeoutMs?: number): Promise<StreamedEvent>
  close(): void
}

export async function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenedStream> {
  const abort = new AbortController()
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal })
  const events: StreamedEvent[] = []
  const waiters = new Set<() => void>()
  if (res.status !== 200) {
    const body = await res.json()
    return {
      status: res.status,
      body,
      events,
      next: () => Promise.reject(new Error(`stream refused: ${res.status}`)),
      close() {},
    }
  }
  void (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let cut = buffer.indexOf('\n\n')
        while (cut >= 0) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          cut = buffer.indexOf('\n\n')
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('data: ')) data.push(line.slice(6))
          }
          if (data.length === 0) continue
          events.push({ event, data: JSON.parse(data.join('\n')), at: Date.now() })
          for (const wake of waiters) wake()
        }
      }
    } catch {
      // aborted by close()
    }
  })()
  return {
    status: 200,
    body: undefined,
    events,
    next(match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        let seen = 0
        const check = () => {
          for (; seen < events.length; seen++) {
            const e = events[seen]!
            if (match(e)) {
              waiters.delete(check)
              clearTimeout(timer)
              resolve(e)
              return
            }
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(
            new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.slice(-5))}`),
          )
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    close: () => abort.abort(),
  }
}
