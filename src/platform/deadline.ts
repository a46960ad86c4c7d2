/**
 * `work`, or a rejection with `message` once `ms` passed without its answer (the work itself goes on: use it where
 * a dependency may take a connection and never answer, and the caller must not wait for the client's own timeouts).
 */
export async function answeredWithin<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  try {
    return await Promise.race([work, silence])
  } finally {
    clearTimeout(timer)
  }
}
