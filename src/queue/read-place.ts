import type { TokenService } from '../auth/tokens.ts'
import type { Db } from '../platform/db.ts'
import { estimatedWaitSeconds, queuePosition } from './queue-rules.ts'
import { type EntryStatus, type QueueSettings, readEntry } from './queue-sql.ts'
import type { QueueWatch } from './queue-watch.ts'

/** A fan's place in a waiting room, as the API answers it. */
export interface Place {
  status: EntryStatus
  preQueue: boolean
  position: number | null
  estimatedWaitSeconds: number | null
  /** The signed place, to send back as X-Queue-Ticket: then the place is read from memory. */
  ticket?: string
  /** Once admitted: the queue token for holds and payments, and until when it works. */
  token?: string
  admittedUntil?: string
}

export type PlaceDeps = {
  db: Db
  watch: QueueWatch
  tokens: TokenService
  settings: QueueSettings
}

/**
 * Reads a fan's place. A fan still waiting, whose signed ticket names their place, is answered from this instance's
 * watermark of the line, without a database round trip; anyone else (admitted, left, no ticket, a watermark not
 * known yet) is answered from the database, with a fresh ticket.
 */
export async function readPlace(
  deps: PlaceDeps,
  scheduleId: string,
  userId: string,
  ticketToken: string | undefined,
): Promise<Place> {
  const ticket = deps.tokens.verifyTicket(ticketToken)
  const watermark = deps.watch.watermark(scheduleId)
  if (
    ticket &&
    watermark &&
    ticket.userId === userId &&
    ticket.scheduleId === scheduleId &&
    ticket.seq > watermark.admittedThrough &&
    !deps.watch.isRevoked(scheduleId, userId, ticket.seq)
  ) {
    const position = queuePosition(ticket.seq, watermark.admittedThrough)
    return {
      status: 'waiting',
      preQueue: false,
      position,
      estimatedWaitSeconds: estimatedWaitSeconds(position, deps.settings.ratePerSecond),
      ticket: ticketToken!,
    }
  }
  const entry = await readEntry(deps.db, scheduleId, userId)
  return placeOf(deps, scheduleId, userId, {
    status: entry.status,
    seq: entry.seq,
    admittedThrough: entry.admittedThrough,
    admittedUntil: entry.admittedUntil?.toISOString() ?? null,
  })
}

/** The place of an entry read from the database (or just written), with its ticket and, once admitted, its token. */
export function placeOf(
  deps: Pick<PlaceDeps, 'tokens' | 'settings'>,
  scheduleId: string,
  userId: string,
  entry: { status: EntryStatus; seq: number | null; admittedThrough: number; admittedUntil: string | null },
): Place {
  const waitingPlace =
    entry.status === 'waiting' && entry.seq !== null ? queuePosition(entry.seq, entry.admittedThrough) : null
  const admitted = entry.status === 'admitted' && entry.admittedUntil !== null
  return {
    status: entry.status,
    preQueue: entry.status === 'waiting' && entry.seq === null,
    position: entry.status === 'admitted' ? 0 : waitingPlace,
    estimatedWaitSeconds:
      entry.status === 'admitted'
        ? 0
        : waitingPlace === null
          ? null
          : estimatedWaitSeconds(waitingPlace, deps.settings.ratePerSecond),
    ...(entry.seq !== null ? { ticket: deps.tokens.signTicket({ userId, scheduleId, seq: entry.seq }) } : {}),
    ...(admitted
      ? {
          token: deps.tokens.signQueue({
            userId,
            scheduleId,
            expiresAt: new Date(entry.admittedUntil!),
            seq: entry.seq ?? undefined,
          }),
          admittedUntil: entry.admittedUntil!,
        }
      : {}),
  }
}
