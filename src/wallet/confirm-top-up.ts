import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import { uuidv7 } from '../platform/ids.ts'
import { chargePoints } from './charge-points.ts'
import { findTopUpOrder, insertTopUpOrder, markTopUpPaid, type TopUpOrder } from './top-ups-sql.ts'
import type { PaymentProvider } from './toss-payments.ts'
import { readBalance } from './wallet-sql.ts'

/** A new order for `amount` points (1 point = 1 won); the client pays it with the provider, then confirms. */
export function createTopUpOrder(db: Db, userId: string, amount: number): Promise<TopUpOrder> {
  return insertTopUpOrder(db, { orderId: `topup_${uuidv7().replaceAll('-', '')}`, userId, amount })
}

/**
 * Confirms a paid top-up: the amount must be the order's, the provider must confirm the payment for this order and
 * amount (called with no database connection held), and the wallet is credited once per order: a repeated or
 * concurrent confirm with the same payment answers the same, without a second credit.
 */
export async function confirmTopUp(
  db: Db,
  provider: PaymentProvider,
  userId: string,
  orderId: string,
  input: { paymentKey: string; amount: number },
): Promise<{ order: TopUpOrder; balance: number }> {
  const order = await findTopUpOrder(db, orderId)
  if (!order || order.userId !== userId) throw new AppError('TOP_UP_ORDER_NOT_FOUND')
  if (input.amount !== order.amount) {
    throw new AppError('TOP_UP_AMOUNT_MISMATCH', undefined, {
      orderAmount: order.amount,
      amount: input.amount,
    })
  }
  if (order.status === 'paid') return answerPaid(db, order, input.paymentKey)

  const payment = await provider.confirm({ paymentKey: input.paymentKey, orderId, amount: order.amount })
  if (payment.orderId !== orderId || payment.totalAmount !== order.amount || payment.status !== 'DONE') {
    throw new AppError('TOP_UP_PAYMENT_REFUSED', 'The provider confirmed a different payment.', {
      providerStatus: payment.status,
      providerAmount: payment.totalAmount,
    })
  }

  return db.transaction().execute(async (tx) => {
    const locked = await findTopUpOrder(tx, orderId, { lock: true })
    if (!locked) throw new AppError('TOP_UP_ORDER_NOT_FOUND')
    if (locked.status === 'paid') return answerPaid(tx, locked, input.paymentKey)
    const entry = await chargePoints(tx, userId, locked.amount, `top-up:${orderId}`, 'top-up')
    await markTopUpPaid(tx, orderId, { paymentKey: payment.paymentKey, ledgerId: entry.id })
    const paid = await findTopUpOrder(tx, orderId)
    return { order: paid!, balance: entry.balanceAfter }
  })
}

async function answerPaid(db: Db, order: TopUpOrder, paymentKey: string) {
  if (order.paymentKey !== paymentKey) throw new AppError('TOP_UP_ALREADY_CONFIRMED')
  return { order, balance: await readBalance(db, order.userId) }
}
