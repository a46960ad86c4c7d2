/** Pure waiting-room arithmetic, kept apart from SQL so it can be tested alone. */

export interface AdmissionInput {
  /** Credit carried from the last tick (fractional admissions). */
  credit: number
  ratePerSecond: number
  elapsedSeconds: number
  maxActive: number
  active: number
}

/** How many fans to admit now, and the credit left for the next tick. Bursts are capped at 2 s of rate. */
export function admissionBudget(input: AdmissionInput): { admit: number; credit: number } {
  const cap = Math.max(1, input.ratePerSecond * 2)
  const credit = Math.min(cap, input.credit + input.ratePerSecond * Math.max(0, input.elapsedSeconds))
  const room = Math.max(0, input.maxActive - input.active)
  const admit = Math.max(0, Math.min(Math.floor(credit), room))
  return { admit, credit: credit - admit }
}

/** 1-based place in line: how many admissions are still ahead of `seq`, counting itself. */
export function queuePosition(seq: number, admittedThrough: number): number {
  return Math.max(1, seq - admittedThrough)
}

export function estimatedWaitSeconds(position: number, ratePerSecond: number): number {
  return Math.ceil(position / ratePerSecond)
}

export function sequenceNameFor(scheduleId: string): string {
  return `queue_seq_${scheduleId.replaceAll('-', '')}`
}
