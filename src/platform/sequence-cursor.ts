import { type RawBuilder, sql } from 'kysely'

/**
 * Where a poll of rows numbered from a sequence stands: the highest number seen, and the numbers below it not seen
 * yet, down to `lookback` below it. A transaction takes its number when it writes and is seen when it commits, which
 * may be after a later number's: such a row shows up among those gaps, so a poll asks for the numbers above `last`
 * and for the `gaps` by number, and reads each row once (reading the last `lookback` rows again on every poll, as the
 * queue watch and the seat board did, was 2,560 rows a second each, on every instance, all the time). A number that
 * never shows up (rolled back, or a seat's revision replaced by a later one) stops being asked for once it falls
 * `lookback` below the last.
 */
export class SequenceCursor {
  readonly #lookback: number
  #last: number
  #gaps: number[] = []

  /** `start`: the highest number when the poll began; the `lookback` numbers up to it may still be uncommitted. */
  constructor(start: number, lookback: number) {
    this.#lookback = lookback
    this.#last = start
    for (let n = Math.max(1, start - lookback + 1); n <= start; n++) this.#gaps.push(n)
  }

  get last(): number {
    return this.#last
  }

  get gaps(): readonly number[] {
    return this.#gaps
  }

  /** The numbers a poll read (it asked for those above `last` and for the `gaps`). */
  saw(numbers: Iterable<number>): void {
    const seen = new Set(numbers)
    const before = this.#last
    for (const n of seen) if (n > this.#last) this.#last = n
    const lowest = this.#last - this.#lookback + 1
    const gaps = this.#gaps.filter((n) => n >= lowest && !seen.has(n))
    for (let n = Math.max(before + 1, lowest); n < this.#last; n++) if (!seen.has(n)) gaps.push(n)
    this.#gaps = gaps
  }
}

/**
 * The select of a poll through `cursor`: `columns` of the rows of `table` numbered (`key`) above its last, in order,
 * up to `limit`, and of its gaps. Two reads of the key's index, each as long as what it returns: as one `key > last or
 * key = any(gaps) order by key limit`, a table without statistics (autovacuum off, or not yet come by) got a walk of
 * the key's index from its very first entry, filtering out every row read before: with 300,000 seats sold, 80 ms
 * and 13,000 pages a seat-board poll, five polls a second (bench/HISTORY.md, the forty-eighth machine).
 */
export function pastCursor(
  table: string,
  columns: readonly string[],
  key: string,
  cursor: SequenceCursor,
  limit: number,
): RawBuilder<unknown> {
  const list = sql.join(columns.map((c) => sql.ref(c)))
  const k = sql.ref(key)
  return sql`select * from (
      (select ${list} from ${sql.table(table)} where ${k} > ${cursor.last} order by ${k} limit ${limit})
      union all
      (select ${list} from ${sql.table(table)} where ${k} = any(${cursor.gaps}::bigint[]))
    ) as past order by ${k} limit ${limit}`
}
