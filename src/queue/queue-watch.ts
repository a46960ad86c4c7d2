import { sql } from 'kysely'
import type { Task } from '../module.ts'
import { createBackgroundLoop } from '../platform/background-loop.ts'
import { type Db, jsonColumn } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { pastCursor, SequenceCursor } from '../platform/sequence-cursor.ts'

export interface Watermark {
  opened: boolean
  /** The highest place in line admitted so far. */
  admittedThrough: number
}

/**
 * This instance's view of every waiting room: how far each line has been admitted (so a fan's place, carried in
 * their signed entry ticket, is read without a database round trip) and which admissions were spent or given
 * back (so their queue tokens are refused at once). Kept current by this instance's own rounds and by polling
 * what other instances did; the database stays the arbiter inside every hold and payment.
 */
export class QueueWatch {
  readonly #watermarks = new Map<string, Watermark>()
  /** `schedule:user:seq` → when the revoked token expires anyway (ms). */
  readonly #revoked = new Map<string, number>()
  readonly #listeners = new Set<(scheduleId: string, watermark: Watermark) => void>()
  readonly #tokenTtlMs: number

  constructor(tokenTtlMs: number) {
    this.#tokenTtlMs = tokenTtlMs
  }

  watermark(scheduleId: string): Watermark | undefined {
    return this.#watermarks.get(scheduleId)
  }

  /** Records a line's progress; listeners hear of every advance. */
  advance(scheduleId: string, watermark: Watermark): void {
    const known = this.#watermarks.get(scheduleId)
    if (known && known.admittedThrough >= watermark.admittedThrough && known.opened === watermark.opened)
      return
    const next = {
      opened: watermark.opened || (known?.opened ?? false),
      admittedThrough: Math.max(watermark.admittedThrough, known?.admittedThrough ?? 0),
    }
    this.#watermarks.set(scheduleId, next)
    for (const listener of this.#listeners) listener(scheduleId, next)
  }

  /** Calls `listener` on every advance of any line; returns the function that stops it. */
  onAdvance(listener: (scheduleId: string, watermark: Watermark) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  isRevoked(scheduleId: string, userId: string, seq: number | null | undefined): boolean {
    if (seq === null || seq === undefined) return false
    return this.#revoked.has(`${scheduleId}:${userId}:${seq}`)
  }

  revoke(scheduleId: string, userId: string, seq: number | null | undefined, now = Date.now()): void {
    if (seq === null || seq === undefined) return
    this.#revoked.set(`${scheduleId}:${userId}:${seq}`, now + this.#tokenTtlMs)
  }

  /** Forgets revocations of tokens that have expired by themselves anyway. */
  prune(now = Date.now()): void {
    for (const [key, until] of this.#revoked) if (until <= now) this.#revoked.delete(key)
  }
}

/** Keeps a QueueWatch current from the database: watermarks of every line, and revocations since the last read. */
export function queueWatchTask(
  db: Db,
  watch: QueueWatch,
  logger: Logger,
  options: { pollMs: number; tokenTtlSeconds: number },
): Task {
  const tokenTtlSeconds = options.tokenTtlSeconds
  // The revocations read, by number (see SequenceCursor); undefined until the first poll.
  let cursor: SequenceCursor | undefined
  let rounds = 0
  const loop = createBackgroundLoop({
    name: 'queue-watch',
    logger,
    idleMs: options.pollMs,
    async run() {
      // One round trip: every line's watermark, and the revocations not seen yet (at start: those of tokens still
      // alive, and where the revocations stand, read in the same snapshot).
      const first = cursor === undefined
      const { rows } = await sql<{
        states: StateRow[] | string
        revoked: RevocationRow[] | string
        top: number | null
      }>`
        select
          (select coalesce(json_agg(json_build_object('schedule_id', schedule_id, 'opened', opened,
                                                      'admitted_through', admitted_through)), '[]')
           from queue_state) as states,
          (select coalesce(json_agg(r order by r.seq), '[]') from (${
            first
              ? sql`select seq, schedule_id, user_id, entry_seq from queue_revocations
                    where revoked_at > now() - make_interval(secs => ${tokenTtlSeconds}) order by seq limit ${POLL_LIMIT}`
              : pastCursor(
                  'queue_revocations',
                  ['seq', 'schedule_id', 'user_id', 'entry_seq'],
                  'seq',
                  cursor!,
                  POLL_LIMIT,
                )
          }) r) as revoked,
          ${first ? sql`(select coalesce(max(seq), 0) from queue_revocations)` : sql`null`}::bigint as top`.execute(
        db,
      )
      const row = rows[0]!
      const states = jsonColumn(row.states)
      const revoked = jsonColumn(row.revoked)
      for (const s of states)
        watch.advance(s.schedule_id, { opened: s.opened, admittedThrough: s.admitted_through })
      // At start, from where the revocations stood; from the last one read when there were more than a poll reads.
      cursor ??= new SequenceCursor(
        revoked.length === POLL_LIMIT ? 0 : Number(row.top ?? 0),
        REVOCATION_LOOKBACK,
      )
      for (const r of revoked) watch.revoke(r.schedule_id, r.user_id, r.entry_seq)
      cursor.saw(revoked.map((r) => Number(r.seq)))
      if (++rounds % 100 === 0) watch.prune()
      return revoked.length === POLL_LIMIT
    },
  })
  return { name: 'queue-watch', start: () => loop.start(), stop: () => loop.stop() }
}

interface StateRow {
  schedule_id: string
  opened: boolean
  admitted_through: number
}
interface RevocationRow {
  seq: number
  schedule_id: string
  user_id: string
  entry_seq: number | null
}

/** How far below the last revocation seen a missing one is still looked for (a writer that committed late). */
const REVOCATION_LOOKBACK = 256

const POLL_LIMIT = 5_000
