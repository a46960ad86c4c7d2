import { setFlagsFromString } from 'node:v8'

/**
 * Turns V8's allocation-site pretenuring off for the service, unless node's own command line names it. When most
 * objects of an allocation site survive a few young collections, V8 starts allocating that site's objects straight
 * in the old generation. A burst of requests has thousands in flight at once, so the sites of Node's HTTP machinery
 * (the request, the response, its header strings) were pretenured: afterwards every answer left its garbage in the
 * old generation. In a seat race the heap then grew by about 16 MB between young collections, to 150–260 MB, each of
 * those collections took 20–85 ms instead of 1–5, and a full collection had to clear the rest; with pretenuring off
 * the heap stayed near 50 MB (`--trace-gc`, bench/HISTORY.md). V8 reads the flag at each collection, so setting it
 * here, before the service answers its first request, works as the command-line flag does.
 */
export function turnOffPretenuring(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => arg.includes('allocation-site-pretenuring'))) return false
  setFlagsFromString('--no-allocation-site-pretenuring')
  return true
}
