import type { PartitionDispatcher } from './partition-dispatcher.ts'
import type { ConsumerHandle, TransportRecord } from './port.ts'

/**
 * What both transports do between fetching and handling: hand records to the dispatcher, stop fetching once more
 * than `maxBuffered` are buffered or running, and fetch again once that has halved.
 */
export class FetchGate {
  readonly #dispatcher: PartitionDispatcher
  readonly #maxBuffered: number
  readonly #onPause: () => void
  readonly #onResume: () => void
  #paused = false

  constructor(
    dispatcher: PartitionDispatcher,
    maxBuffered: number,
    hooks: { pause(): void; resume(): void } = { pause() {}, resume() {} },
  ) {
    this.#dispatcher = dispatcher
    this.#maxBuffered = maxBuffered
    this.#onPause = hooks.pause
    this.#onResume = hooks.resume
  }

  get paused(): boolean {
    return this.#paused
  }

  /** Hands records to the dispatcher; pauses fetching when the buffer is full. */
  push(records: readonly TransportRecord[]): void {
    if (records.length > 0) this.#dispatcher.push(records)
    if (!this.#paused && this.#dispatcher.pending > this.#maxBuffered) {
      this.#paused = true
      this.#onPause()
    }
  }

  /** Call when work settled (a commit, a revocation): resumes fetching once the buffer has drained to half. */
  settled(): void {
    if (this.#paused && this.#dispatcher.pending <= this.#maxBuffered / 2) {
      this.#paused = false
      this.#onResume()
    }
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
