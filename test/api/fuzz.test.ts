import assert from 'node:assert/strict'
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Pool } from 'undici'
import { createTokenService } from '../../src/auth/tokens.ts'
import { errorCatalog } from '../../src/platform/errors.ts'
import { startTossPayments } from '../side-effects/support/toss-payments.ts'
import { Api } from '../support/api-client.ts'
import { charge, createCoupon, createSchedule, grantCoupon, signUp } from '../support/flows.ts'
import { createFuzzer, type FuzzRequest, operationsOf, seededRandom } from '../support/openapi-fuzz.ts'
import { admitFans, startTestApp, type TestApp } from '../support/test-app.ts'

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000)
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000)
const IN_FLIGHT = 64
/** Longer than any answer may take (the service's own request timeout is 30 s): a request still open then is a hang. */
const ANSWER_WITHIN_MS = 35_000

/**
 * ≥ 10,000 malformed requests generated from the service's own OpenAPI document, sent by one fan who holds only their
 * own token (and forged ones): no answer may be a 5xx, every error must be a catalog body, and no wallet but the
 * fuzzing fan's may change. FUZZ_SEED replays a run.
 */
describe('malformed-request fuzzing from the OpenAPI document [pglite]', () => {
  let t: TestApp
  let api: Api
  let toss: Awaited<ReturnType<typeof startTossPayments>>
  before(async () => {
    toss = await startTossPayments({ secretKey: 'test_sk_fuzzfuzzfuzzfuzz' })
    t = await startTestApp('pglite', 'fuzz', {
      DEMO_TOP_UP: 'true',
      TOSS_SECRET_KEY: 'test_sk_fuzzfuzzfuzzfuzz',
      TOSS_API_URL: toss.url,
      SMS_API_URL: 'http://127.0.0.1:9',
      SMS_APP_KEY: 'app',
      SMS_SECRET_KEY: 'secret',
      SMS_SENDER_NUMBER: '15446859',
      QUEUE_ADMIT_PER_SECOND: 1000,
    })
    api = new Api(t.url)
  })
  after(async () => {
    await t.close()
    await toss.close()
  })

  test(`${REQUESTS} generated requests: no 5xx, catalog errors, and only the fuzzer's wallet changes`, async () => {
    const show = await createSchedule(api, t.adminKey, { seats: 20 })
    const coupon = await createCoupon(api, t.adminKey, { totalQuantity: 50 })
    const victims = await Promise.all([1, 2, 3].map(() => signUp(api, 'victim')))
    for (const victim of victims) {
      await charge(api, victim, 100_000)
      await grantCoupon(api, t.adminKey, coupon.id, victim.id)
    }
    const fuzzer = await signUp(api, 'fuzzer')
    await charge(api, fuzzer, 1_000_000)
    const [queueToken] = await admitFans(t, api, show.scheduleId, [fuzzer])
    const victimOrder = await api.post(`/users/${victims[0]!.id}/wallet/top-ups`, {
      token: (
        await api.post('/auth/sign-in', {
          body: { email: victims[0]!.email, password: 'correct horse battery' },
        })
      ).body.accessToken,
      body: { amount: 5000 },
    })

    const wallets = async () => {
      const rows = await t.app.database.db.selectFrom('wallets').select(['user_id', 'balance']).execute()
      const lines = await t.app.database.db
        .selectFrom('wallet_ledger')
        .select((eb) => ['user_id', eb.fn.countAll<string>().as('n')])
        .groupBy('user_id')
        .execute()
      const count = new Map(lines.map((l) => [l.user_id, Number(l.n)]))
      return new Map(rows.map((r) => [r.user_id, `${r.balance}/${count.get(r.user_id) ?? 0}`]))
    }
    const before = await wallets()

    // Tokens an attacker could make: tampered, signed with another secret, unsigned, for other users.
    const other = createTokenService(randomBytes(32).toString('hex'), 3600)
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: victims[0]!.id, typ: 'access' })}.`
    const hmacNone = `${b64({ alg: 'HS256' })}.${b64({ sub: victims[1]!.id, typ: 'access' })}.${createHmac(
      'sha256',
      '',
    )
      .update('x')
      .digest('base64url')}`
    const tampered = `${fuzzer.token.slice(0, -2)}${fuzzer.token.endsWith('A') ? 'BB' : 'AA'}`
    const bearer = (token: string) => `Bearer ${token}`
    const doc = (await api.get('/docs/json')).body
    const operations = operationsOf(doc)
    assert.ok(operations.length > 40, `only ${operations.length} operations`)
    const ids = {
      userId: [fuzzer.id, fuzzer.id, fuzzer.id, fuzzer.id, ...victims.map((v) => v.id)],
      scheduleId: [show.scheduleId],
      seatId: show.seatIds.slice(0, 5),
      concertId: [show.concertId],
      couponId: [coupon.id],
      orderId: [victimOrder.body.orderId ?? 'topup_none'],
    }
    const fuzz = createFuzzer(seededRandom(SEED), {
      ids,
      headers: {
        authorization: [
          ...Array.from({ length: 8 }, () => bearer(fuzzer.token)),
          bearer(tampered),
          bearer(other.signAccess(victims[0]!.id)),
          bearer(unsigned),
          bearer(hmacNone),
        ],
        'x-queue-token': [
          queueToken!,
          `${queueToken!}x`,
          other.signQueue({
            userId: fuzzer.id,
            scheduleId: show.scheduleId,
            expiresAt: new Date(Date.now() + 600_000),
          }),
        ],
        'x-admin-key': [randomBytes(18).toString('base64url'), `${t.adminKey.slice(0, -1)}x`],
        'idempotency-key': [randomUUID(), 'k1'],
      },
    })

    const pool = new Pool(t.url, {
      connections: 16,
      pipelining: 1,
      headersTimeout: ANSWER_WITHIN_MS,
      bodyTimeout: ANSWER_WITHIN_MS,
    })
    const statuses = new Map<number, number>()
    const failures: { request: FuzzRequest; status: number; body: string }[] = []
    const notCatalog: { request: FuzzRequest; status: number; body: string }[] = []
    const hung: { request: FuzzRequest; status: number; body: string }[] = []
    const rng = seededRandom(SEED + 1)
    let answered = 0
    let unsendable = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (answered < REQUESTS) {
          const request = fuzz.request(operations[Math.floor(rng() * operations.length)]!)
          let status: number
          let text: string
          try {
            const res = await pool.request({
              method: request.method as 'GET',
              path: request.path,
              headers: request.headers,
              body: request.body,
            })
            status = res.statusCode
            // A push stream the fuzzer was allowed to open never ends by itself: its answer is the status.
            // (HEAD has no body: its answer has ended already.)
            if (
              request.method !== 'HEAD' &&
              String(res.headers['content-type']).startsWith('text/event-stream')
            ) {
              res.body.destroy()
              text = ''
            } else text = await res.body.text()
          } catch (error) {
            // undici refused to send it (an invalid header or path): not a request the service saw.
            const code = (error as { code?: string }).code
            if (code?.startsWith('UND_ERR_INVALID')) {
              unsendable++
              continue
            }
            // No answer, or an answer that never ended: the service left a fan waiting.
            if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
              answered++
              hung.push({ request, status: 0, body: code })
              continue
            }
            throw error
          }
          answered++
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
          if (status >= 500) failures.push({ request, status, body: text.slice(0, 300) })
          else if (status >= 400 && request.method !== 'HEAD') {
            let body: any
            try {
              body = JSON.parse(text)
            } catch {
              body = undefined
            }
            if (!body || !(body.code in errorCatalog) || typeof body.message !== 'string') {
              notCatalog.push({ request, status, body: text.slice(0, 300) })
            }
          }
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    await pool.close()
    const histogram = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`)
    console.log(
      `[figure] fuzz seed ${SEED}: ${answered} requests over ${operations.length} operations in ${seconds.toFixed(1)} s (${Math.round(answered / seconds)}/s), ${unsendable} unsendable; ${histogram.join(' ')}`,
    )
    const show5 = (list: typeof failures) =>
      list
        .slice(0, 5)
        .map(
          (f) =>
            `${f.status} ${f.request.method} ${f.request.path.slice(0, 200)} ${JSON.stringify(f.request.headers).slice(0, 200)} ${String(f.request.body).slice(0, 200)} → ${f.body}`,
        )
        .join('\n')
    assert.ok(answered >= REQUESTS)
    assert.equal(hung.length, 0, `requests left without a whole answer (seed ${SEED}):\n${show5(hung)}`)
    assert.equal(failures.length, 0, `answers ≥ 500 (seed ${SEED}):\n${show5(failures)}`)
    assert.equal(notCatalog.length, 0, `errors outside the catalog (seed ${SEED}):\n${show5(notCatalog)}`)

    const afterwards = await wallets()
    for (const [userId, state] of before) {
      if (userId === fuzzer.id) continue
      assert.equal(afterwards.get(userId), state, `the wallet of ${userId} changed`)
    }
    for (const userId of afterwards.keys()) {
      if (!before.has(userId)) {
        // Accounts the fuzzer signed up are its own; they start empty and nobody else could have paid into them.
        assert.match(afterwards.get(userId)!, /^\d+\/\d+$/)
      }
    }
  })
})
