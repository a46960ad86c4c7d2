import pg from 'pg'
import type { DatabaseHandle } from './db.ts'

/** LISTEN on a channel; returns the function that stops listening. PGlite and a server connection alike. */
export async function listen(
  handle: DatabaseHandle,
  channel: string,
  onNotify: (payload?: string) => void,
): Promise<() => Promise<void>> {
  if (handle.pglite) {
    const unlisten = await handle.pglite.listen(channel, (payload) => onNotify(payload))
    return async () => {
      if (!handle.pglite!.closed) await unlisten()
    }
  }
  if (!handle.url) throw new Error('LISTEN needs the database URL')
  // A dedicated connection: LISTEN is per session, and pooled sessions come and go.
  let client: pg.Client | undefined
  let stopped = false
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: handle.url })
    c.on('notification', (message) => onNotify(message.payload))
    c.on('error', () => {
      // reconnect below; consumers also poll, so a gap only adds latency
      if (!stopped) setTimeout(() => void connect().catch(() => {}), 500)
    })
    await c.connect()
    await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
    client = c
    onNotify()
  }
  await connect()
  return async () => {
    stopped = true
    await client?.end().catch(() => {})
  }
}
