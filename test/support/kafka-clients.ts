import { subscribe } from 'node:diagnostics_channel'

// @platformatic/kafka announces every client and consumer stream it creates on this channel (its diagnostics API).
const INSTANCES_CHANNEL = 'plt:kafka:instances'

interface Tracked {
  type: string
  ref: WeakRef<object>
}

const tracked: Tracked[] = []
let watching = false

/** Starts remembering the Kafka clients and consumer streams this process creates (idempotent). */
export function watchKafkaClients(): void {
  if (watching) return
  watching = true
  subscribe(INSTANCES_CHANNEL, (message) => {
    const { type, instance } = message as { type: string; instance: object }
    if (type === 'connection' || type === 'connection-pool') return
    tracked.push({ type, ref: new WeakRef(instance) })
  })
}

/**
 * The clients and consumer streams created since `watchKafkaClients()` that are still open, e.g.
 * `consumer notify.reservation.confirmed (client app-1)`: what to look at when connections to the brokers stay open.
 */
export function openKafkaClients(): string[] {
  const open: string[] = []
  for (const { type, ref } of tracked) {
    const instance = ref.deref() as
      | { closed?: boolean; destroyed?: boolean; clientId?: string; groupId?: string }
      | undefined
    if (!instance) continue
    const isOpen = type === 'messages-stream' ? !instance.destroyed : !instance.closed
    if (!isOpen) continue
    const group = instance.groupId ? ` ${instance.groupId}` : ''
    open.push(`${type}${group}${instance.clientId ? ` (client ${instance.clientId})` : ''}`)
  }
  return open
}
