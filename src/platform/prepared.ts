import { setTimeout as sleep } from 'node:timers/promises'
import { CompiledQuery } from 'kysely'
import { Batcher } from './batcher.ts'
import type { DatabaseHandle } from './db.ts'
import { AppError, type ErrorCode, errorCatalog } from './errors.ts'
import { type FanLoad, fanLoad } from './fan-load.ts'
import { isTransactionConflict } from './pg-errors.ts'
import { type Routine, routine } from './routines.ts'

/** A statement of a hot path: parsed and planned once per connection (a named prepared statement), not per call. */
export interface Statement {
  readonly name: string
  readonly text: string
}

export function statement(name: string, text: string): Statement {
  return { name, text }
}

/**
 * Runs one statement in its own transaction and returns its rows. On PostgreSQL it is a named prepared statement on
 * a pooled connection; on PGlite it goes through Kysely, which hands PGlite's one connection to one caller at a time.
 * A routine that raises a catalog code (`RAISE EXCEPTION 'SEAT_NOT_FOUND'`) rejects with that AppError; a deadlock
 * or serialization failure is retried (the statement was rolled back whole), so a fan never sees one.
 */
export async function execute<R>(
  database: DatabaseHandle,
  s: Statement,
  values: readonly unknown[],
): Promise<R[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (database.pool) {
        const result = await database.pool.query({ name: s.name, text: s.text, values: values as unknown[] })
        return result.rows as R[]
      }
      const result = await database.db.executeQuery<R>(CompiledQuery.raw(s.text, [...values]))
      return result.rows as R[]
    } catch (error) {
      if (isTransactionConflict(error) && attempt < MAX_CONFLICT_RETRIES) {
        await sleep(Math.random() * 5 * (attempt + 1))
        continue
      }
      throw routineError(error) ?? error
    }
  }
}

const MAX_CONFLICT_RETRIES = 5

/** A PL/pgSQL `RAISE EXCEPTION '<CODE>'` (SQLSTATE P0001) whose message is a catalog code, as that AppError. */
export function routineError(error: unknown): AppError | undefined {
  const e = error as { code?: string; message?: string; detail?: string }
  if (e?.code !== 'P0001' || !e.message || !(e.message in errorCatalog)) return undefined
  return new AppError(e.message as ErrorCode, e.detail || undefined)
}

/** Items one batch may run alone, each in a subtransaction (see batchRoutineSql): PostgreSQL caches 64 per session. */
const ALONE_PER_TRANSACTION = 60

/**
 * A routine's batch form: `<name>_batch` takes one array per parameter and answers one row per item, in order, with
 * the item's result (`{ ok }`) or its error (`{ state, message, detail, constraint }`). Each item runs in its own
 * subtransaction (an EXCEPTION block), so one item's error undoes only that item; the batch commits once. At most
 * ALONE_PER_TRANSACTION items run one by one: past 64 subtransactions in one transaction PostgreSQL's snapshots get
 * slower for every session while it lasts, so the items after them answer `{ again: true }`, to be run again in a
 * transaction of their own.
 *
 * With `setBased`, a function of the same arrays runs first, in a subtransaction of its own: it does the batch's
 * plain items with one statement per step for all of them (a statement's executor start, triggers and constraint
 * checks are then paid once per batch, not once per item) and answers an array with each done item's result and
 * null for the items it left, which then run one by one. Whatever it raises undoes its whole pass, and every item
 * then runs one by one: it may raise whenever a row turned out not as it read it.
 */
export function batchRoutineSql(
  name: string,
  parameterTypes: readonly string[],
  options: { setBased?: Routine } = {},
): string {
  const params = parameterTypes.map((type, i) => `p${i + 1} ${type}[]`).join(', ')
  const args = parameterTypes.map((_, i) => `p${i + 1}[i]`).join(', ')
  const arrays = parameterTypes.map((_, i) => `p${i + 1}`).join(', ')
  const setBased = options.setBased
    ? `begin
      v_done := ${options.setBased.name}(${arrays});
    exception when others then
      v_done := null;
    end;`
    : ''
  return `create or replace function ${name}_batch(${params}) returns setof jsonb language plpgsql as $$
  declare
    v_alone integer := 0;
    v_state text;
    v_message text;
    v_detail text;
    v_constraint text;
    v_done jsonb[];
  begin
    ${setBased}
    for i in 1 .. coalesce(array_length(p1, 1), 0) loop
      if v_done[i] is not null then
        return next jsonb_build_object('ok', v_done[i], 'together', true);
        continue;
      end if;
      if v_alone = ${ALONE_PER_TRANSACTION} then
        return next jsonb_build_object('again', true);
        continue;
      end if;
      v_alone := v_alone + 1;
      begin
        return next jsonb_build_object('ok', ${name}(${args}));
      exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
          v_detail = pg_exception_detail, v_constraint = constraint_name;
        return next jsonb_build_object('state', v_state, 'message', v_message, 'detail', nullif(v_detail, ''),
          'constraint', nullif(v_constraint, ''));
      end;
    end loop;
  end $$`
}

/**
 * A batch's pass together (see batchRoutineSql): `name(params) returns jsonb[]`, one answer or null per item of its
 * first array. `body` does the items it can with one statement per step for all of them and leaves in `v_results`
 * one `{ i, answer }` per item done (`i` its place in the arrays, from 1); it may `return v_done` early (nothing
 * done) and raise to undo itself. Every row is reached by its key: a batch is at most MAX_BATCH items, and a sale's
 * statistics, taken before its rows existed, would otherwise make scans and hash joins of whole tables look
 * cheaper (a first version joined the whole seats table, 11 ms a batch).
 */
export function setBasedRoutine(name: string, params: string, declarations: string, body: string): Routine {
  const items = params.trim().split(/\s+/)[0]
  return routine(
    name,
    `create or replace function ${name}(${params}) returns jsonb[] language plpgsql
     set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
  declare
    v_done jsonb[] := array_fill(null::jsonb, array[coalesce(cardinality(${items}), 0)]);
    v_results jsonb[];
    ${declarations.trim()}
  begin
    ${body.trim()}
    for j in 1 .. coalesce(cardinality(v_results), 0) loop
      v_done[(v_results[j] ->> 'i')::integer] := v_results[j] -> 'answer';
    end loop;
    return v_done;
  end $$`,
  )
}

/**
 * Group commit for a hot path's routine: calls made while its batch is at the database wait and go together as the
 * next one, up to MAX_BATCH in one transaction and one round trip (`<name>_batch`, see batchRoutineSql), so the crowd
 * of a flash sale shares commits, round trips and the per-transaction work of the server. A call made when no batch
 * is out goes at the end of the event loop's turn it came in, with whatever else that turn brought, alone as the
 * single statement if nothing did (see Batcher). An item that lost a deadlock or a serialization conflict is
 * run again alone (execute retries those); its catalog error rejects it like the single statement's would. The
 * batches run on the routines' own connections (DatabaseHandle.routinePool, half of DB_POOL_SIZE), never in line
 * behind the relay's and the consumers' transactions.
 *
 * One batch of a routine at a time per instance (BATCH_SLOTS), of up to 128: batches at a busy server together share
 * its CPU and finish together, late, while one at a time finishes each as soon as it can, and the next, larger one
 * shares more per-transaction work. Against four batches of 32, alternated in one service (three experiments of six
 * rounds each): free-seat holds -6 to +19 % a second with a p99 25-32 % lower, payments -6 to +12 % with a p99 9-35 %
 * lower, the race as fast with a p99 of 52 against 63 ms (bench/HISTORY.md, the twenty-second machine). On PGlite
 * (one connection, no pool) every call is the single statement.
 */
const MAX_BATCH = 128
const BATCH_SLOTS = 1

export class GroupCommit<R> {
  readonly #database: DatabaseHandle
  /** The same database, on the routines' own connections when it has them. */
  readonly #connections: DatabaseHandle
  readonly #single: Statement
  readonly #batch: Statement
  readonly #batcher: Batcher<readonly unknown[], R>
  /** The fans' operations in flight on this database, which side effects yield to (see FanLoad). */
  readonly #load: FanLoad
  readonly #leave: () => void

  constructor(
    database: DatabaseHandle,
    options: { name: string; parameterTypes: readonly string[]; concurrency?: number },
  ) {
    this.#database = database
    const load = fanLoad(database)
    this.#load = load
    this.#leave = () => load.leave()
    this.#connections = database.routinePool ? { ...database, pool: database.routinePool } : database
    const statements = groupCommitStatements(options.name, options.parameterTypes)
    this.#single = statements.single
    this.#batch = statements.batch
    this.#batcher = new Batcher(
      (items) => this.#runBatch(items),
      MAX_BATCH,
      options.concurrency ?? BATCH_SLOTS,
    )
  }

  /** The routine's result for these arguments. */
  call(values: readonly unknown[]): Promise<R> {
    if (!this.#database.pool) return this.#callAlone(values)
    this.#load.enter()
    const answer = this.#batcher.submit(values)
    answer.then(this.#leave, this.#leave)
    return answer
  }

  async #callAlone(values: readonly unknown[]): Promise<R> {
    const [row] = await execute<{ result: R }>(this.#connections, this.#single, values)
    return row!.result
  }

  async #runBatch(items: readonly (readonly unknown[])[]): Promise<PromiseSettledResult<R>[]> {
    const observe = observers.get(this.#database)
    if (items.length === 1) {
      observe?.(this.#single.name, 1, 0)
      return Promise.allSettled([this.#callAlone(items[0]!)])
    }
    const columns = items[0]!.map((_, k) => items.map((values) => values[k]))
    let together = 0
    let again: number[] = []
    let rows: { r: BatchItem<R> }[]
    try {
      rows = await execute<{ r: BatchItem<R> }>(this.#connections, this.#batch, columns)
      together = rows.filter(({ r }) => 'ok' in r && r.together).length
      again = rows.flatMap(({ r }, i) => ('again' in r ? [i] : []))
    } finally {
      observe?.(this.#single.name, items.length - again.length, together)
    }
    // The items past the batch's subtransactions, in their order, as a batch of their own on the same slot.
    const rerun = again.length > 0 ? this.#runBatch(again.map((i) => items[i]!)) : undefined
    return Promise.allSettled(
      rows.map(async ({ r }, i) => {
        if ('again' in r) {
          const outcome = (await rerun!)[again.indexOf(i)]!
          if (outcome.status === 'rejected') throw outcome.reason
          return outcome.value
        }
        if ('ok' in r) return r.ok
        const error = Object.assign(new Error(r.message), {
          code: r.state,
          detail: r.detail ?? undefined,
          constraint: r.constraint ?? undefined,
        })
        if (isTransactionConflict(error)) return this.#callAlone(items[i]!)
        throw routineError(error) ?? error
      }),
    )
  }
}

/** A group-committed routine's two statements: the call alone, and its batch form's. */
function groupCommitStatements(
  name: string,
  parameterTypes: readonly string[],
): { single: Statement; batch: Statement } {
  const placeholders = parameterTypes.map((_, i) => `$${i + 1}`)
  return {
    single: statement(name, `select ${name}(${placeholders.join(', ')}) as result`),
    batch: statement(
      `${name}_batch`,
      `select r from ${name}_batch(${placeholders.map((p, i) => `${p}::${parameterTypes[i]}[]`).join(', ')}) as r`,
    ),
  }
}

/** Every routine declared group-committed in this process (groupCommitted), for warmRoutineConnections. */
const declared = new Map<string, readonly string[]>()

/**
 * Opens every connection of the routines' pool and readies each for the fans' first wave: each group-committed
 * routine is prepared under the name GroupCommit uses, and run once alone with nulls and once as a batch of none, in
 * a transaction rolled back, so that the server has compiled the routines and the session cached the tables they
 * read. A new session paid 5-8 ms to connect and its first hold batch 18-25 ms, against 6-7 once warm (8 items, on the
 * forty-second machine). Nothing is written: the batch of none returns at once and the transaction is undone
 * whatever the calls alone did or raised. PGlite has no pool: nothing to do.
 */
export async function warmRoutineConnections(database: DatabaseHandle): Promise<void> {
  const pool = database.routinePool
  if (!pool) return
  // Every connect is asked for before any is released, so each opens a connection of its own.
  const warmed = await Promise.allSettled(
    Array.from({ length: pool.options.max }, async () => {
      const client = await pool.connect()
      try {
        await client.query('begin')
        for (const [name, types] of declared) {
          const { single, batch } = groupCommitStatements(name, types)
          await client.query('savepoint warm')
          await client
            .query({ name: single.name, text: single.text, values: types.map(() => null) })
            .catch(() => {})
          await client.query('rollback to savepoint warm')
          await client.query({ name: batch.name, text: batch.text, values: types.map(() => []) })
        }
        await client.query('rollback')
        client.release()
      } catch (error) {
        // Closed (released with its error), not handed to a fan in a state unknown.
        client.release(error as Error)
        throw error
      }
    }),
  )
  const failed = warmed.find((w) => w.status === 'rejected')
  if (failed) throw failed.reason
}

type BatchItem<R> =
  | { ok: R; together?: true }
  | { again: true }
  | { state: string; message: string; detail: string | null; constraint: string | null }

type GroupCommitObserver = (routine: string, calls: number, together: number) => void
const observers = new WeakMap<DatabaseHandle, GroupCommitObserver>()

/**
 * Tells `observe` how many calls each group-committed transaction on this database carried, and how many of them its
 * pass together did (for metrics: a pass that keeps leaving its items one by one is slower, not wrong).
 */
export function observeGroupCommits(database: DatabaseHandle, observe: GroupCommitObserver): void {
  observers.set(database, observe)
}

/** A hot path's routine called through group commit: its batch form, to install, and the call. */
export interface GroupCommitted<R> {
  readonly batchRoutine: Routine
  /** The routine's result for these arguments, through this database's GroupCommit (one per handle). */
  call(database: DatabaseHandle, values: readonly unknown[]): Promise<R>
}

/**
 * Declares routine `name` (with these parameter types) as group-committed: the one place both are named. `setBased`
 * is the routine its batches run first (batchRoutineSql), named from itself: a wrong name would not fail, the pass
 * would only never run.
 */
export function groupCommitted<R>(
  name: string,
  parameterTypes: readonly string[],
  options: { setBased?: Routine } = {},
): GroupCommitted<R> {
  const byDatabase = new WeakMap<DatabaseHandle, GroupCommit<R>>()
  declared.set(name, parameterTypes)
  return {
    batchRoutine: routine(`${name}_batch`, batchRoutineSql(name, parameterTypes, options)),
    call(database, values) {
      let commit = byDatabase.get(database)
      if (!commit) {
        commit = new GroupCommit<R>(database, { name, parameterTypes })
        byDatabase.set(database, commit)
      }
      return commit.call(values)
    },
  }
}
