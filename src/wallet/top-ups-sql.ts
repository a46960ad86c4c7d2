import type { Db } from '../platform/db.ts'

export interface TopUpOrder {
  orderId: string
  userId: string
  amount: number
  status: 'pending' | 'paid'
  paymentKey: string | null
  ledgerId: number | null
  createdAt: Date
  paidAt: Date | null
}

const columns = [
  'id',
  'user_id',
  'amount',
  'status',
  'payment_key',
  'ledger_id',
  'created_at',
  'paid_at',
] as const

function toOrder(row: {
  id: string
  user_id: string
  amount: number
  status: 'pending' | 'paid'
  payment_key: string | null
  ledger_id: number | string | null
  created_at: Date
  paid_at: Date | null
}): TopUpOrder {
  return {
    orderId: row.id,
    userId: row.user_id,
    amount: row.amount,
    status: row.status,
    paymentKey: row.payment_key,
    ledgerId: row.ledger_id === null ? null : Number(row.ledger_id),
    createdAt: row.created_at,
    paidAt: row.paid_at,
  }
}

export async function insertTopUpOrder(
  db: Db,
  order: { orderId: string; userId: string; amount: number },
): Promise<TopUpOrder> {
  const row = await db
    .insertInto('top_up_orders')
    .values({ id: order.orderId, user_id: order.userId, amount: order.amount })
    .returning(columns)
    .executeTakeFirstOrThrow()
  return toOrder(row)
}

/** The order; `lock`: FOR UPDATE, in the caller's transaction. */
export async function findTopUpOrder(
  db: Db,
  orderId: string,
  options: { lock?: boolean } = {},
): Promise<TopUpOrder | undefined> {
  let query = db.selectFrom('top_up_orders').select(columns).where('id', '=', orderId)
  if (options.lock) query = query.forUpdate()
  const row = await query.executeTakeFirst()
  return row ? toOrder(row) : undefined
}

export async function markTopUpPaid(
  tx: Db,
  orderId: string,
  paid: { paymentKey: string; ledgerId: number },
): Promise<void> {
  await tx
    .updateTable('top_up_orders')
    .set({ status: 'paid', payment_key: paid.paymentKey, ledger_id: paid.ledgerId, paid_at: new Date() })
    .where('id', '=', orderId)
    .execute()
}
