/**
 * Korean mobile numbers, as fans type them ("010-1234-5678", "01012345678", "+82 10-1234-5678"), stored in E.164
 * ("+821012345678") and sent to Korean providers in the domestic form ("01012345678"). Pure.
 */
export function normalizeKoreanMobile(input: string): string | undefined {
  const digits = input.replace(/[\s().-]/g, '')
  const m = /^(?:\+82|0082|82)?0?(1[016789]\d{7,8})$/.exec(digits)
  if (!m || !/^\+?\d+$/.test(digits)) return undefined
  return `+82${m[1]}`
}

/** "+821012345678" → "01012345678". */
export function domesticNumber(e164: string): string {
  return e164.startsWith('+82') ? `0${e164.slice(3)}` : e164
}

/** "+821012345678" → "010-****-5678", for answers that must not show the whole number. */
export function maskedNumber(e164: string): string {
  const d = domesticNumber(e164)
  return `${d.slice(0, 3)}-****-${d.slice(-4)}`
}

/** Length in EUC-KR bytes, the unit Korean SMS limits are counted in (Hangul 2, ASCII 1). */
export function eucKrBytes(text: string): number {
  let n = 0
  for (const ch of text) n += ch.codePointAt(0)! < 0x80 ? 1 : 2
  return n
}
