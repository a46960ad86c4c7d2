import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { alimTalkTemplates, koreaTime, templateParameters } from '../../src/notification/alimtalk-channel.ts'
import { readServiceAccount } from '../../src/notification/fcm-access-token.ts'
import { domesticNumber, eucKrBytes, normalizeKoreanMobile } from '../../src/notification/phone-numbers.ts'
import { ConfigError } from '../../src/platform/config.ts'

describe('Korean channel rules', () => {
  test('mobile numbers as fans type them become E.164; landlines and junk are refused', () => {
    for (const typed of [
      '010-1234-5678',
      '01012345678',
      '+82 10-1234-5678',
      '+821012345678',
      '0082 10 1234 5678',
    ]) {
      assert.equal(normalizeKoreanMobile(typed), '+821012345678', typed)
    }
    assert.equal(normalizeKoreanMobile('011-123-4567'), '+82111234567')
    for (const bad of ['02-123-4567', '010-1234', 'abc', '+1 415 555 0100', '010-1234-5678-9']) {
      assert.equal(normalizeKoreanMobile(bad), undefined, bad)
    }
    assert.equal(domesticNumber('+821012345678'), '01012345678')
  })

  test('SMS length counts Hangul as two EUC-KR bytes', () => {
    assert.equal(eucKrBytes('abc'), 3)
    assert.equal(eucKrBytes('인증번호'), 8)
  })

  test('AlimTalk variables are strings in Korea time; template codes can be overridden by kind', () => {
    assert.equal(koreaTime('2026-12-25T10:00:00.000Z'), '2026-12-25 19:00')
    assert.equal(koreaTime('2026-12-31T15:30:00.000Z'), '2027-01-01 00:30')
    assert.deepEqual(
      templateParameters({
        kind: 'payment-confirmed',
        concertTitle: 'IU',
        seatLabel: 'R-1',
        amount: 1_200_000,
      }),
      { concert: 'IU', seat: 'R-1', amount: '1,200,000' },
    )
    assert.equal(alimTalkTemplates('coupon-issued=MY_CODE')['coupon-issued'], 'MY_CODE')
    assert.throws(
      () => alimTalkTemplates('refund-done=X'),
      (e: Error) => e instanceof ConfigError && /ALIMTALK_TEMPLATES/.test(e.message),
    )
  })

  test('a bad service-account key stops the start naming FCM_SERVICE_ACCOUNT', () => {
    for (const raw of ['/no/such/key.json', '{not json', '{"project_id":"p"}']) {
      assert.throws(
        () => readServiceAccount(raw),
        (e: Error) => e instanceof ConfigError && /FCM_SERVICE_ACCOUNT/.test(e.message),
        raw,
      )
    }
  })
})
