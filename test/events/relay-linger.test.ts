// The relay's linger: events that keep coming go out in fewer, larger publishes; the first after a quiet moment goes
// at once; the linger counts from a publish's start; stopping does not wait a linger out.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { type TestContext, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { Registry } from 'prom-client'
import { createOutboxRelay, ID_HEADER } from '../../src/events/outbox/relay.ts'
import type { EventTransport, OutboxRecord } from '../../src/events/transport/port.ts'
import type { DatabaseHandle } from '../../src/platform/db.ts'
import { FanLoad } from '../../src/platform/fan-load.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { type DatabaseKind, databaseKinds } from '../support/databases.ts'
import { waitFor } from '../support/wait.ts'
import { localTransportFor, smallTopic } from './support/local.ts'

const TOPIC = 'relay-linger'
const LINGER_MS = 1_000

/**
 * A started relay with `lingerMs` on the embedded transport of a fresh database, each publish it makes recorded (its
 * records' outbox ids and when it began), each taking `publishMs` or more.
 */
async function lingeringRelay(
  t: TestContext,
  kind: DatabaseKind,
  lingerMs: number,
  publishMs = 0,
  busyLinger?: { fans: FanLoad; ms: number },
) {
  const { handle, transport: real } = await localTransportFor(t, kind, 'relay-linger', {})
  await real.ensureTopics([smallTopic(TOPIC)])
  const batches: { at: number; ids: string[] }[] = []
  const transport: EventTransport = {
    ...real,
    async publishWithin(tx, records: readonly OutboxRecord[]) {
      batches.push({ at: performance.now(), ids: records.map((r) => String(r.headers?.[ID_HEADER])) })
      // A publish that takes this long to be acknowledged, as Kafka's acks=all does on a busy machine.
      if (publishMs > 0) await new Promise((r) => setTimeout(r, publishMs))
      await real.publishWithin!(tx, records)
    },
  }
  const relay = createOutboxRelay({
    database: handle,
    transport,
    logger: createLogger('silent'),
    registry: new Registry(),
    lingerMs,
    busyLinger,
  })
  await relay.start()
  t.after(() => relay.stop())
  return { handle, relay, batches }
}

/** One event committed in its own transaction, as a fan's payment commits its event. */
async function commitEvent(handle: DatabaseHandle, id: string): Promise<void> {
  await sql`insert into outbox (id, topic, key, event)
            values (${id}::uuid, ${TOPIC}, ${id}, ${JSON.stringify({ id })}::jsonb)`.execute(handle.db)
}

for (const kind of databaseKinds) {
  test(`${kind}: events committed while the relay lingers go out together in its next publish, the first at once`, async (t) => {
    const { handle, batches } = await lingeringRelay(t, kind, LINGER_MS)

    const first = randomUUID()
    await commitEvent(handle, first)
    await waitFor('the first event published', () => batches.length === 1)
    // Three more, each committed on its own right after the first went out: the relay is lingering.
    const more = [randomUUID(), randomUUID(), randomUUID()]
    for (const id of more) await commitEvent(handle, id)
    await waitFor('every event published', () => batches.flatMap((b) => b.ids).length === 4, {
      describe: () => batches,
    })

    assert.deepEqual(
      batches.map((b) => b.ids),
      [[first], more],
      'the first alone, the three that came during the linger in one publish, in commit order',
    )
    const waited = batches[1]!.at - batches[0]!.at
    assert.ok(waited >= LINGER_MS - 5, `the next publish came ${waited.toFixed(0)} ms after the first`)
    // A publish is recorded inside the relay's transaction, before the rows' delete commits with it: waited for.
    const outboxRows = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(handle.db)).rows[0]!.n
    await waitFor('every published row to leave the outbox', async () => (await outboxRows()) === 0, {
      timeoutMs: 10_000,
      describe: outboxRows,
    })
  })

  test(`${kind}: the linger counts from a publish's start, so a slow publish does not add to it`, async (t) => {
    // Publishes of 600 ms and a linger of 1 s: the next publish may begin 1 s after the first began, not 1.6 s (a
    // linger counted from the batch's end added the acknowledgement's time to every event's wait).
    const PUBLISH_MS = 600
    const { handle, batches } = await lingeringRelay(t, kind, LINGER_MS, PUBLISH_MS)
    await commitEvent(handle, randomUUID())
    await waitFor('the first event published', () => batches.length === 1)
    await commitEvent(handle, randomUUID())
    await waitFor('the second event published', () => batches.length === 2, { timeoutMs: 10_000 })

    const waited = batches[1]!.at - batches[0]!.at
    assert.ok(waited >= LINGER_MS - 5, `the next publish began ${waited.toFixed(0)} ms after the first`)
    assert.ok(
      waited < LINGER_MS + PUBLISH_MS / 2,
      `the next publish began ${waited.toFixed(0)} ms after the first: the publish's ${PUBLISH_MS} ms were added to the linger`,
    )
  })

  test(`${kind}: while the fans keep the instance busy the relay lingers its busy linger, and not after`, async (t) => {
    const BUSY_LINGER_MS = 600
    const fans = new FanLoad(1, 20)
    const { handle, batches } = await lingeringRelay(t, kind, 0, 0, { fans, ms: BUSY_LINGER_MS })
    const publishOf = async (ids: readonly string[]) => {
      const before = batches.flatMap((b) => b.ids).length
      for (const id of ids) await commitEvent(handle, id)
      await waitFor(
        'the events published',
        () => batches.flatMap((b) => b.ids).length === before + ids.length,
        {
          timeoutMs: 10_000,
          describe: () => batches,
        },
      )
    }

    fans.enter()
    await publishOf([randomUUID()])
    const busyFirst = batches.length
    const together = [randomUUID(), randomUUID(), randomUUID()]
    await publishOf(together)
    assert.deepEqual(
      batches.slice(busyFirst).map((b) => b.ids),
      [together],
      'the three went together',
    )
    const waited = batches[busyFirst]!.at - batches[busyFirst - 1]!.at
    assert.ok(
      waited >= BUSY_LINGER_MS - 5,
      `busy, the next publish came ${waited.toFixed(0)} ms after the last`,
    )

    fans.leave()
    await waitFor('the fans quiet', () => !fans.busy)
    await sleep(BUSY_LINGER_MS)
    await publishOf([randomUUID()])
    const quietFirst = batches.length
    await publishOf([randomUUID()])
    const quiet = batches[quietFirst]!.at - batches[quietFirst - 1]!.at
    assert.ok(
      quiet < BUSY_LINGER_MS / 2,
      `not busy, the next publish came ${quiet.toFixed(0)} ms after the last`,
    )
  })

  test(`${kind}: stopping the relay does not wait out its linger`, { timeout: 60_000 }, async (t) => {
    // A linger far beyond the test's timeout (a minute): a stop that waited it out would fail the test.
    const { handle, relay, batches } = await lingeringRelay(t, kind, 10 * 60_000)
    await commitEvent(handle, randomUUID())
    await waitFor('the event published', () => batches.length === 1)
    // The relay lingers now; stop() coming back at all is the check.
    await relay.stop()
  })
}
