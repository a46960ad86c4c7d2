import { appendToOutbox, buildEvent } from '../events/index.ts'
import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { isNumericOverflow } from '../platform/pg-errors.ts'
import type { LedgerKind } from '../platform/schema.ts'
import { insertLedger, type LedgerEntry, MAX_BALANCE } from './wallet-sql.ts'

/** Adds points in the caller's transaction, records the ledger line (of `kind`) and the points.charged event. */
export async function chargePoints(
  tx: Db,
  userId: string,
  amount: number,
  reference: string,
  kind: Exclude<LedgerKind, 'payment'> = 'charge',
): Promise<LedgerEntry> {
  const wallet = await tx
    .updateTable('wallets')
    .set((eb) => ({ balance: eb('balance', '+', amount), updated_at: new Date() }))
    .where('user_id', '=', userId)
    .returning('balance')
    .executeTakeFirst()
    .catch((error: unknown) => {
      if (isNumericOverflow(error)) {
        throw new AppError('VALIDATION_FAILED', `The balance cannot exceed ${MAX_BALANCE} points.`, {
          field: 'amount',
        })
      }
      throw error
    })
  if (!wallet) throw new AppError('USER_NOT_FOUND')
  const entry = await insertLedger(tx, userId, amount, kind, reference, wallet.balance)
  await appendToOutbox(tx, [
    buildEvent('points.charged', userId, { userId, amount, balance: wallet.balance, ledgerId: entry.id }),
  ])
  return entry
}
