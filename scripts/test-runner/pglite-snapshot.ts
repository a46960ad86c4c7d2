// PGlite runs initdb each time it creates a database in memory: about 4 s of CPU here, paid by every test app on
// PGlite. scripts/test.ts makes one snapshot of a freshly created cluster per PGlite version (snapshotPath), and
// preloads this module into the test processes (--import) with TEST_PGLITE_SNAPSHOT naming it: a PGlite created
// without a data dir then starts from that snapshot, the same empty cluster initdb would have made, in about 1 s.
// TEST_PGLITE_SNAPSHOT=off turns it off.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { PGlite, type PGliteOptions } from '@electric-sql/pglite'

/** Where the snapshot of this PGlite version lives (a tar of the data dir). */
export function snapshotPath(root: string): string {
  const manifest = join(root, 'node_modules', '@electric-sql', 'pglite', 'package.json')
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }
  return join(root, 'node_modules', '.cache', 'flash-sale-tests', `pglite-${version}-fresh-cluster.tar`)
}

/** Creates the snapshot unless it exists; returns its path. */
export async function ensureSnapshot(root: string): Promise<string> {
  const path = snapshotPath(root)
  if (existsSync(path)) return path
  mkdirSync(dirname(path), { recursive: true })
  const pglite = await PGlite.create()
  const dump = await pglite.dumpDataDir('none')
  await pglite.close()
  const partial = `${path}.${process.pid}`
  writeFileSync(partial, Buffer.from(await dump.arrayBuffer()))
  renameSync(partial, path)
  return path
}

const snapshot = process.env.TEST_PGLITE_SNAPSHOT
if (snapshot && snapshot !== 'off' && existsSync(snapshot)) {
  const create = PGlite.create.bind(PGlite) as (options?: PGliteOptions) => Promise<PGlite>
  PGlite.create = ((first?: string | PGliteOptions, second?: PGliteOptions) => {
    if (typeof first === 'string') return create({ ...second, dataDir: first })
    if (first?.dataDir || first?.loadDataDir) return create(first)
    return create({ ...first, loadDataDir: new Blob([readFileSync(snapshot)]) })
  }) as typeof PGlite.create
}
