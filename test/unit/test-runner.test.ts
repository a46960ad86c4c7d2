// `npm test` itself (scripts/test.ts): a file whose process outlives its tests is ended with a reason naming what kept
// it alive (its connections and timers), and the run goes on, instead of being held until CI's limit; in its own
// process (the default) and in a process shared with other files (--test-isolation=none).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `npm test`'s runner on the lingering fixture, then the passing one, with a 2 s idle limit. */
async function runLingering(t: TestContext, extraArgs: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'runner-'))
  const pidFile = join(dir, 'pid')
  const accepted: Socket[] = []
  const server = createServer((socket) => accepted.push(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    for (const socket of accepted) socket.destroy()
    server.close()
  })
  const port = (server.address() as { port: number }).port
  // Without the marker node:test sets in this file's process, which would make the inner run report to ours.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        'scripts/test.ts',
        ...extraArgs,
        'test/unit/fixtures/lingering.fixture.ts',
        'test/unit/fixtures/passing.fixture.ts',
      ],
      {
        cwd: ROOT,
        env: {
          ...env,
          INIT_CWD: ROOT,
          TEST_IDLE_LIMIT_MS: '2000',
          TEST_REPORT_FILE: join(dir, 'report.log'),
          LINGER_PID_FILE: pidFile,
          LINGER_PORT: String(port),
        },
        timeout: 30_000,
      },
      (error, stdout) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout }),
    )
  })
  return { code, stdout, port, pid: Number(readFileSync(pidFile, 'utf8')) }
}

/** The lingering file's failure line: ended for silence, with the connection to `port` that kept it alive. */
const endedUnderItsFailure = (port: number) =>
  new RegExp(
    'lingering\\.fixture\\.ts did not run to its end \\(no test event for 2 s, so its process was ended; ' +
      `what kept it alive: [^\\n]*tcp to 127\\.0\\.0\\.1:${port}`,
  )

test('a test file whose process never exits is ended after the idle limit, naming what kept it alive; the next file still runs', async (t) => {
  const { code, stdout, port, pid } = await runLingering(t, [])
  assert.equal(code, 1, stdout)
  assert.match(
    stdout,
    new RegExp(
      `no test event for 2\\.0 s; ending test/unit/fixtures/lingering\\.fixture\\.ts \\(pid ${pid}\\).*` +
        `What kept it alive: .*tcp to 127\\.0\\.0\\.1:${port}`,
    ),
  )
  assert.match(stdout, /What kept it alive: [^\n]*timer \(next due in \d+ ms\)/)
  assert.match(stdout, /lingering\.fixture\.ts.*✖ 1/)
  // Said again under the file's failure, where the tail of CI's output shows it.
  assert.match(stdout, endedUnderItsFailure(port))
  assert.match(stdout, /passing\.fixture\.ts\s+✔ 1\s+✖ 0/, 'the next file ran')
  assert.match(stdout, /FAILED/)
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the file process was ended')
})

test('in shared processes (--test-isolation=none) too: the silent process is ended, its file fails with the reason, a new process runs the rest', async (t) => {
  const { code, stdout, port, pid } = await runLingering(t, ['--test-isolation=none'])
  assert.equal(code, 1, stdout)
  assert.match(stdout, endedUnderItsFailure(port))
  assert.match(stdout, /passing\.fixture\.ts\s+✔ 1\s+✖ 0/, 'the next file ran')
  assert.match(stdout, /FAILED/)
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the shared process was ended')
})
