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
 * load one transaction carries many items and when idle an item goes alone, at the end of the event loop's turn it
 * came in. `run` answers each item's own outcome; if it throws, every item of the batch rejects with BatchFailed. A
 * batch's items get their outcomes on the tick after the next batch was started.
 */
export class Batcher<I, R> {
  readonly #run: (items: readonly I[]) => Promise<PromiseSettledResult<R>[]>
  readonly #maxBatch: number
  #waiting: Waiting<I, R>[] = []
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
        // A batch that starts when none is out waits for the end of this turn of the event loop, so that what the
        // turn brought goes with it: the requests read from every socket that was ready, the consumer keys woken by
        // one commit (each a few promise hops from its submit). Started at once (a microtask), the first item often
        // went alone and held the slot for a round trip while the rest queued: in some runs a group's 50,000 events
        // went in batches of 12 and 244 in turn (591 transactions against 196), and a sale's 15,500 holds had 29
        // batches of one (5 after; bench/HISTORY.md, the forty-third machine).
        setImmediate(this.#drainNow)
      }
    })
  }

  readonly #drainNow = () => void this.#drain()

  async #drain(): Promise<void> {
    try {
      let batch = this.#take()
      let outcome = this.#start(batch)
      while (outcome) {
        const settled = await outcome
        const done = batch
        // The next batch leaves before this one's callers hear back: their continuations (a fan's answer each) then
        // run while the database works on it, instead of before it is sent. pg's pool hands a query its connection
        // on the next tick, which is queued before the outcomes' tick.
        batch = this.#take()
        outcome = this.#start(batch)
        process.nextTick(() => this.#settle(done, settled))
      }
    } finally {
      this.#running--
    }
  }

  #take(): Waiting<I, R>[] {
    return this.#waiting.splice(0, this.#maxBatch)
  }

  /** The batch's run, settled either way; undefined for no batch (another drain took the waiting items). */
  #start(
    batch: readonly Waiting<I, R>[],
  ): Promise<PromiseSettledResult<PromiseSettledResult<R>[]>> | undefined {
    if (batch.length === 0) return undefined
    try {
      return this.#run(batch.map((b) => b.item)).then(
        (value) => ({ status: 'fulfilled', value }),
        (reason: unknown) => ({ status: 'rejected', reason }),
      )
    } catch (reason) {
      return Promise.resolve({ status: 'rejected', reason })
    }
  }

  #settle(batch: readonly Waiting<I, R>[], settled: PromiseSettledResult<PromiseSettledResult<R>[]>): void {
    if (settled.status === 'rejected') {
      const failed = new BatchFailed(settled.reason, batch.length)
      for (const b of batch) b.reject(failed)
      return
    }
    batch.forEach((b, i) => {
      const r = settled.value[i]!
      if (r.status === 'fulfilled') b.resolve(r.value)
      else b.reject(r.reason)
    })
  }
}

interface Waiting<I, R> {
  item: I
  resolve: (r: R) => void
  reject: (e: unknown) => void
}
