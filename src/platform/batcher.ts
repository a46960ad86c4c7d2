/** The whole batch failed: it says nothing of any one item when it held several. */
export class BatchFailed extends Error {
  override name = 'BatchFailed'
  readonly size: number
  constructor(cause: unknown, size: number) {
    super(`a batch of ${size} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.size = size
  }
}

/**
 * Group commit: items submitted while `concurrency` batches run wait and go together as the next batch, so under
 * load one transaction carries many items and when idle an item goes at once, alone. `run` answers each item's own
 * outcome; if it throws, every item of the batch rejects with BatchFailed.
 */
export class Batcher<I, R> {
  readonly #run: (items: readonly I[]) => Promise<PromiseSettledResult<R>[]>
  readonly #maxBatch: number
  #waiting: { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = []
  readonly #concurrency: number
  #running = 0

  constructor(
    run: (items: readonly I[]) => Promise<PromiseSettledResult<R>[]>,
    maxBatch: number,
    concurrency = 1,
  ) {
    this.#run = run
    this.#maxBatch = maxBatch
    this.#concurrency = concurrency
  }

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject })
      if (this.#running < this.#concurrency) {
        this.#running++
        // Let the other keys woken in the same tick join the first batch.
        queueMicrotask(() => void this.#drain())
      }
    })
  }

  async #drain(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, this.#maxBatch)
        try {
          const results = await this.#run(batch.map((b) => b.item))
          batch.forEach((b, i) => {
            const r = results[i]!
            if (r.status === 'fulfilled') b.resolve(r.value)
            else b.reject(r.reason)
          })
        } catch (error) {
          const failed = new BatchFailed(error, batch.length)
          for (const b of batch) b.reject(failed)
        }
      }
    } finally {
      this.#running--
    }
  }
}
