/** A wake-up signal that is not lost when it fires while nobody waits: the next wait returns at once. */
export interface Waker {
  notify(): void
  /** Resolves on the next (or a pending) notify, or after `ms`. */
  wait(ms: number): Promise<void>
}

export function createWaker(): Waker {
  let pending = false
  let resolveWait: (() => void) | undefined
  return {
    notify() {
      if (resolveWait) {
        const resolve = resolveWait
        resolveWait = undefined
        resolve()
      } else {
        pending = true
      }
    },
    wait(ms) {
      if (pending) {
        pending = false
        return Promise.resolve()
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          resolveWait = undefined
          resolve()
        }, ms)
        resolveWait = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    },
  }
}
