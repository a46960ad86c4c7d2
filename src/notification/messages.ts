/** What a notification says, built from plain facts; pure, so every channel renders the same words. */
export interface NotificationFacts {
  kind:
    | 'payment-confirmed'
    | 'reservation-held'
    | 'reservation-expired'
    | 'reservation-refunded'
    | 'waitlist-offer'
    | 'queue-admitted'
    | 'coupon-issued'
    | 'coupon-rejected'
  concertTitle?: string | undefined
  startsAt?: string | undefined
  seatLabel?: string | undefined
  amount?: number | undefined
  deadline?: string | undefined
  couponName?: string | undefined
  reason?: string | undefined
}

export interface NotificationMessage {
  title: string
  body: string
}

const when = (iso: string | undefined) =>
  iso ? `${new Date(iso).toISOString().replace('T', ' ').slice(0, 16)} UTC` : ''
const points = (n: number | undefined) => `${(n ?? 0).toLocaleString('en-US')} points`

export function composeMessage(f: NotificationFacts): NotificationMessage {
  const show = f.concertTitle ? `${f.concertTitle} (${when(f.startsAt)})` : 'your show'
  switch (f.kind) {
    case 'payment-confirmed':
      return {
        title: 'Payment confirmed',
        body: `${show}, seat ${f.seatLabel}: paid ${points(f.amount)}. Enjoy the show!`,
      }
    case 'reservation-held':
      return {
        title: 'Seat held',
        body: `${show}, seat ${f.seatLabel} (${points(f.amount)}) is yours until ${when(f.deadline)}. Pay before then.`,
      }
    case 'reservation-expired':
      return {
        title: 'Hold expired',
        body: `${show}, seat ${f.seatLabel}: the hold ended at ${when(f.deadline)} and the seat was released.`,
      }
    case 'reservation-refunded':
      return {
        title: 'Refunded',
        body: `${show}, seat ${f.seatLabel}: your reservation is cancelled and ${points(f.amount)} went back to your wallet.`,
      }
    case 'waitlist-offer':
      return {
        title: 'A seat for you',
        body: `${show}: seat ${f.seatLabel} (${points(f.amount)}) came back and is yours to take until ${when(f.deadline)}. Hold it from your waiting-list page.`,
      }
    case 'queue-admitted':
      return {
        title: "You're in",
        body: `${show}: it's your turn. Choose a seat before ${when(f.deadline)}.`,
      }
    case 'coupon-issued':
      return { title: 'Coupon won', body: `You got the coupon "${f.couponName}". Use it at payment.` }
    case 'coupon-rejected':
      return {
        title: 'Coupon not issued',
        body: `The coupon "${f.couponName}" was not issued: ${f.reason === 'ALREADY_OWNED' ? 'you already have it' : 'all were taken'}.`,
      }
  }
}
