// Which refused offset commits are the expected, passing kind (logged as one short line and tried again) and which
// are worth a warning with the whole error: built from the library's own response errors, as the broker's codes
// arrive.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ResponseError } from '@platformatic/kafka'
import { passingRefusal } from '../../src/events/transport/kafka/offset-committer.ts'

// OffsetCommit is API 8; the broker's error codes: 14 COORDINATOR_LOAD_IN_PROGRESS, 16 NOT_COORDINATOR,
// 29 TOPIC_AUTHORIZATION_FAILED, 30 GROUP_AUTHORIZATION_FAILED.
const refusal = (codes: number[]) =>
  new ResponseError(
    8,
    8,
    Object.fromEntries(codes.map((code, i) => [`/topics/0/partitions/${i}`, [code, null]])),
    {},
  )

test('a coordinator that moved or is loading is a passing refusal, named by the broker', () => {
  assert.equal(passingRefusal(refusal([16, 16, 16])), 'NOT_COORDINATOR')
  assert.equal(passingRefusal(refusal([16, 14])), 'NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS')
})

test('one partition refused for a lasting reason makes the whole refusal worth a warning', () => {
  assert.equal(passingRefusal(refusal([30])), undefined)
  assert.equal(passingRefusal(refusal([16, 29])), undefined)
  assert.equal(passingRefusal(new Error('socket hang up')), undefined)
})
