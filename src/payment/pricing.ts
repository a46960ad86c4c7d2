/** Discount in points for a price; never more than the price, percentages rounded down. */
export function discountFor(
  price: number,
  coupon: { discountType: 'fixed' | 'percent'; discountValue: number } | null,
): number {
  if (!coupon) return 0
  const raw =
    coupon.discountType === 'fixed' ? coupon.discountValue : Math.floor((price * coupon.discountValue) / 100)
  return Math.max(0, Math.min(price, raw))
}
