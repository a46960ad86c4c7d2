import assert from 'node:assert/strict'
import { randomBytes, randomUUID, scryptSync } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { v7 as uuidv7 } from 'uuid'
import { Api } from '../support/api-client.ts'
import { databaseKinds } from '../support/databases.ts'
import { assertError } from '../support/flows.ts'
import { startTestApp, type TestApp } from '../support/test-app.ts'
import { waitFor } from '../support/wait.ts'

const password = 'correct horse battery'

async function storedHash(t: TestApp, email: string): Promise<string> {
  const row = await t.app.database.db
    .selectFrom('users')
    .select('password_hash')
    .where('email', '=', email)
    .executeTakeFirstOrThrow()
  return row.password_hash
}

for (const kind of databaseKinds) {
  describe(`password hashes [${kind}]`, () => {
    let t: TestApp
    let api: Api
    before(async () => {
      // The real cost: N=2^17.
      t = await startTestApp(kind, 'passwords', { PASSWORD_HASH_COST: 17 })
      api = new Api(t.url)
    })
    after(() => t.close())

    test('sign-up stores scrypt with N=2^17, r=8, p=1 in the hash, and sign-in accepts it', async () => {
      const email = `cost-${randomUUID()}@test.example`
      const res = await api.post('/auth/sign-up', { body: { email, name: 'Cost', password } })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      assert.match(await storedHash(t, email), /^scrypt\$131072\$8\$1\$/)
      const signIn = await api.post('/auth/sign-in', { body: { email, password } })
      assert.equal(signIn.status, 200)
    })

    test('a legacy hash (Node defaults, no parameters) still signs in, and is redone at the current cost', async () => {
      const email = `legacy-${randomUUID()}@test.example`
      const salt = randomBytes(16)
      const legacy = `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`
      const id = uuidv7()
      await t.app.database.db
        .insertInto('users')
        .values({ id, email, name: 'Legacy', password_hash: legacy })
        .execute()
      await t.app.database.db.insertInto('wallets').values({ user_id: id, balance: 0 }).execute()
      assertError(
        await api.post('/auth/sign-in', { body: { email, password: 'wrong password' } }),
        401,
        'INVALID_CREDENTIALS',
      )
      assert.equal(await storedHash(t, email), legacy, 'a failed sign-in rehashes nothing')
      const res = await api.post('/auth/sign-in', { body: { email, password } })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.user.id, id)
      const fresh = await waitFor('the hash redone', async () => {
        const stored = await storedHash(t, email)
        return stored.startsWith('scrypt$131072$') ? stored : undefined
      })
      assert.match(fresh, /^scrypt\$131072\$8\$1\$/)
      assert.equal((await api.post('/auth/sign-in', { body: { email, password } })).status, 200)
    })
  })
}

describe('password hashing pool [pglite]', () => {
  let t: TestApp
  let api: Api
  before(async () => {
    t = await startTestApp('pglite', 'password-pool', {
      PASSWORD_HASH_COST: 15,
      PASSWORD_HASH_CONCURRENCY: 1,
      PASSWORD_HASH_QUEUE: 2,
    })
    api = new Api(t.url)
  })
  after(() => t.close())

  test('sign-ins beyond the pool and its queue answer 503 PASSWORD_HASHING_BUSY with Retry-After', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api.post('/auth/sign-in', { body: { email: `flood-${i}@test.example`, password: 'wrong password' } }),
      ),
    )
    const busy = answers.filter((a) => a.status === 503)
    const refused = answers.filter((a) => a.status === 401)
    assert.equal(busy.length + refused.length, 8, JSON.stringify(answers.map((a) => a.status)))
    assert.ok(busy.length >= 1, 'some were refused at once')
    assert.ok(refused.length >= 3, 'one running and two waiting were checked')
    for (const res of busy) {
      assertError(res, 503, 'PASSWORD_HASHING_BUSY')
      assert.equal(res.headers.get('retry-after'), '1')
    }
    for (const res of refused) assertError(res, 401, 'INVALID_CREDENTIALS')
    assert.deepEqual(t.app.passwords.load(), { running: 0, waiting: 0 })
  })
})
