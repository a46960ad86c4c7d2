import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { type EventType, eventTypes } from '../../src/events/event-types.ts'
import { durabilityFor, topicCatalog, topicKeys } from '../../src/events/topics.ts'
import { loadConfig } from '../../src/platform/config.ts'

// The README's topic table is what operators read: every event type once, with the partitions (by default) and key
// the code uses.
test("the README's topic table matches the topic catalog", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const table = readme.split('| topic | partitions | key |')[1]!.split('\n\n')[0]!
  const rows = table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split('|').map((cell) => cell.trim()))
  const seen = new Map<string, { partitions: number; key: string }>()
  for (const [, topics, partitions, key] of rows) {
    for (const [, topic] of topics!.matchAll(/`([^`]+)`/g)) {
      assert.ok(!seen.has(topic!), `${topic} is listed twice`)
      seen.set(topic!, { partitions: Number(partitions), key: key! })
    }
  }
  const types = Object.keys(eventTypes) as EventType[]
  assert.deepEqual([...seen.keys()].sort(), [...types].sort())
  const { retryDelaysMs, EVENT_PARTITIONS } = loadConfig({})
  const declared = new Map(
    topicCatalog(durabilityFor(3), EVENT_PARTITIONS, retryDelaysMs.length).map((spec) => [
      spec.name,
      spec.partitions,
    ]),
  )
  for (const type of types) {
    assert.deepEqual(seen.get(type), { partitions: declared.get(type), key: topicKeys[type] }, type)
  }
})
