// `npm test` itself (scripts/test.ts): a file whose process outlives its tests stops the run with a reason, instead
// of holding it until CI's limit.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

test('a test file whose process never exits fails the run after the idle limit, and its process is ended', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runner-'))
  const pidFile = join(dir, 'pid')
  // Without the marker node:test sets in this file's process, which would make the inner run report to ours.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      ['scripts/test.ts', 'test/unit/fixtures/lingering.fixture.ts'],
      {
        cwd: ROOT,
        env: {
          ...env,
          INIT_CWD: ROOT,
          TEST_IDLE_LIMIT_MS: '2000',
          TEST_REPORT_FILE: join(dir, 'report.log'),
          LINGER_PID_FILE: pidFile,
        },
        timeout: 30_000,
      },
      (error, stdout) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout }),
    )
  })
  assert.equal(code, 1, stdout)
  assert.match(stdout, /no test event for 2\.0 s; stopping/)
  assert.match(stdout, /lingering\.fixture\.ts did not run to its end/)
  assert.match(stdout, /FAILED/)
  const pid = Number(readFileSync(pidFile, 'utf8'))
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the file process was ended')
})
