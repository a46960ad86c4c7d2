import type { PartitionDispatcher } from './partition-dispatcher.ts'
import type { ConsumerHandle, TransportRecord } from './port.ts'

/**
 * What both transports do between fetching and handling: hand records to the dispatcher, stop fetching once more
 * than `maxBuffered` are buffered or running, and fetch again once that has halved. Fetching also stops while the
 * consumer's `holdFetching` says its records wait anyway, until that wait is over.
 */
export class FetchGate {
  readonly #dispatcher: PartitionDispatcher
  readonly #maxBuffered: number
  readonly #onPause: () => void
  readonly #onResume: () => void
  readonly #holdFetching: (() => Promise<void> | undefined) | undefined
  #full = false
  #held = false
  #paused = false

  constructor(
    dispatcher: PartitionDispatcher,
    maxBuffered: number,
    hooks: { pause(): void; resume(): void } = { pause() {}, resume() {} },
    holdFetching?: () => Promise<void> | undefined,
  ) {
    this.#dispatcher = dispatcher
    this.#maxBuffered = maxBuffered
    this.#onPause = hooks.pause
    this.#onResume = hooks.resume
    this.#holdFetching = holdFetching
  }

  get paused(): boolean {
    return this.#paused
  }

  /** Hands records to the dispatcher; pauses fetching when the buffer is full or the records are held back. */
  push(records: readonly TransportRecord[]): void {
    if (records.length > 0) {
      this.#dispatcher.push(records)
      const wait = this.#held ? undefined : this.#holdFetching?.()
      if (wait) {
        this.#held = true
        void wait.then(() => {
          this.#held = false
          this.#update()
        })
      }
    }
    if (this.#dispatcher.pending > this.#maxBuffered) this.#full = true
    this.#update()
  }

  /** Call when work settled (a commit, a revocation): resumes fetching once the buffer has drained to half. */
  settled(): void {
    if (this.#full && this.#dispatcher.pending <= this.#maxBuffered / 2) this.#full = false
    this.#update()
  }

  #update(): void {
    const paused = this.#full || this.#held
    if (paused === this.#paused) return
    this.#paused = paused
    if (paused) this.#onPause()
    else this.#onResume()
  }
}

/** The consumers a transport opened, so that closing the transport closes them all. */
export class OpenConsumers {
  readonly #handles = new Set<ConsumerHandle>()

  /** Wraps `handle` so that closing it also forgets it. */
  track(handle: ConsumerHandle): ConsumerHandle {
    const tracked: ConsumerHandle = {
      group: handle.group,
      assignments: () => handle.assignments(),
      waitingForDue: () => handle.waitingForDue(),
      close: async () => {
        this.#handles.delete(tracked)
        await handle.close()
      },
    }
    this.#handles.add(tracked)
    return tracked
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#handles].map((h) => h.close()))
    this.#handles.clear()
  }
}
