import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import type { LedgerKind } from '../platform/schema.ts'

export interface LedgerEntry {
  id: number
  amount: number
  kind: LedgerKind
  reference: string
  balanceAfter: number
  createdAt: Date
}

/** The largest balance the wallet column holds (PostgreSQL integer). */
export const MAX_BALANCE = 2_147_483_647

/** Takes points in the caller's transaction; INSUFFICIENT_POINTS when the balance would go negative. */
export async function debitPoints(
  tx: Db,
  userId: string,
  amount: number,
  reference: string,
): Promise<LedgerEntry | undefined> {
  if (amount === 0) return undefined
  const wallet = await tx
    .updateTable('wallets')
    .set((eb) => ({ balance: eb('balance', '-', amount), updated_at: new Date() }))
    .where('user_id', '=', userId)
    .where('balance', '>=', amount)
    .returning('balance')
    .executeTakeFirst()
  if (!wallet) throw new AppError('INSUFFICIENT_POINTS')
  return insertLedger(tx, userId, -amount, 'payment', reference, wallet.balance)
}

export async function insertLedger(
  tx: Db,
  userId: string,
  amount: number,
  kind: LedgerKind,
  reference: string,
  balanceAfter: number,
): Promise<LedgerEntry> {
  const row = await tx
    .insertInto('wallet_ledger')
    .values({ user_id: userId, amount, kind, reference, balance_after: balanceAfter })
    .returning(['id', 'created_at'])
    .executeTakeFirstOrThrow()
  return { id: row.id, amount, kind, reference, balanceAfter, createdAt: row.created_at }
}

export async function readBalance(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('wallets')
    .select('balance')
    .where('user_id', '=', userId)
    .executeTakeFirst()
  if (!row) throw new AppError('USER_NOT_FOUND')
  return row.balance
}

export async function readLedger(
  db: Db,
  userId: string,
  options: { limit: number; beforeId?: number | undefined },
): Promise<LedgerEntry[]> {
  let query = db
    .selectFrom('wallet_ledger')
    .select(['id', 'amount', 'kind', 'reference', 'balance_after', 'created_at'])
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(options.limit)
  if (options.beforeId !== undefined) query = query.where('id', '<', options.beforeId)
  const rows = await query.execute()
  return rows.map((r) => ({
    id: r.id,
    amount: r.amount,
    kind: r.kind,
    reference: r.reference,
    balanceAfter: r.balance_after,
    createdAt: r.created_at,
  }))
}
