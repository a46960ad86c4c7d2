import pg from 'pg'
import type { DatabaseHandle } from './db.ts'

type Callback = (payload?: string) => void

/**
 * LISTEN on a channel; returns the function that stops listening. PGlite and a server connection alike. On a server,
 * every channel of one database handle shares one dedicated connection (LISTEN is per session, and pooled sessions
 * come and go); after a lost connection it reconnects and calls every listener once with no payload, since
 * notifications may have been missed meanwhile (listeners also poll, so a gap only adds latency).
 */
export async function listen(
  handle: DatabaseHandle,
  channel: string,
  onNotify: Callback,
): Promise<() => Promise<void>> {
  if (handle.pglite) {
    const unlisten = await handle.pglite.listen(channel, (payload) => onNotify(payload))
    return async () => {
      if (!handle.pglite!.closed) await unlisten()
    }
  }
  if (!handle.url) throw new Error('LISTEN needs the database URL')
  let listener = listeners.get(handle)
  if (!listener) {
    listener = new SharedListener(handle.url)
    listeners.set(handle, listener)
  }
  return listener.add(channel, onNotify)
}

const listeners = new WeakMap<DatabaseHandle, SharedListener>()

class SharedListener {
  readonly #url: string
  readonly #channels = new Map<string, Set<Callback>>()
  #client: pg.Client | undefined
  #connecting: Promise<pg.Client> | undefined

  constructor(url: string) {
    this.#url = url
  }

  async add(channel: string, callback: Callback): Promise<() => Promise<void>> {
    let callbacks = this.#channels.get(channel)
    const fresh = !callbacks
    if (!callbacks) {
      callbacks = new Set()
      this.#channels.set(channel, callbacks)
    }
    callbacks.add(callback)
    const client = await this.#connect()
    if (fresh) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
    callback()
    return async () => {
      callbacks.delete(callback)
      if (callbacks.size > 0) return
      this.#channels.delete(channel)
      if (this.#channels.size === 0) {
        const c = this.#client
        this.#client = undefined
        this.#connecting = undefined
        await c?.end().catch(() => {})
      } else {
        await this.#client?.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {})
      }
    }
  }

  #connect(): Promise<pg.Client> {
    if (this.#client) return Promise.resolve(this.#client)
    this.#connecting ??= (async () => {
      const c = new pg.Client({ connectionString: this.#url })
      c.on('notification', (message) => {
        for (const cb of this.#channels.get(message.channel) ?? []) cb(message.payload)
      })
      c.on('error', () => {
        if (this.#client !== c) return
        this.#client = undefined
        this.#connecting = undefined
        if (this.#channels.size > 0) setTimeout(() => void this.#reconnect(), 500)
      })
      try {
        await c.connect()
      } catch (error) {
        this.#connecting = undefined
        throw error
      }
      this.#client = c
      return c
    })()
    return this.#connecting
  }

  async #reconnect(): Promise<void> {
    if (this.#channels.size === 0) return
    try {
      const c = await this.#connect()
      for (const channel of this.#channels.keys()) await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
      for (const callbacks of this.#channels.values()) for (const cb of callbacks) cb()
    } catch {
      setTimeout(() => void this.#reconnect(), 1_000)
    }
  }
}
