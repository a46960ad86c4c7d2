import type { ColumnType, Generated } from 'kysely'

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>
type CreatedAt = ColumnType<Date, Date | string | undefined, never>

/** What moved points: a demo charge, a payment, an organizer's grant, a paid top-up. */
export type LedgerKind = 'charge' | 'payment' | 'grant' | 'top-up' | 'refund'

/** The database as Kysely sees it; one interface per table, named as in the migrations. */
export interface Database {
  users: { id: string; email: string; name: string; password_hash: string; created_at: CreatedAt }
  wallets: { user_id: string; balance: number; updated_at: Timestamp }
  wallet_ledger: {
    id: Generated<number>
    user_id: string
    amount: number
    kind: LedgerKind
    reference: string
    balance_after: number
    created_at: CreatedAt
  }
  idempotency_keys: {
    user_id: string
    scope: string
    key: string
    request_hash: string
    status_code: number | null
    response: unknown
    created_at: CreatedAt
  }
  concerts: { id: string; title: string; artist: string; venue: string; created_at: CreatedAt }
  schedules: {
    id: string
    concert_id: string
    starts_at: Timestamp
    sale_opens_at: Timestamp
    created_at: CreatedAt
  }
  seats: {
    id: string
    schedule_id: string
    label: string
    grade: string
    price: number
    status: Generated<'available' | 'held' | 'sold'>
    reservation_id: string | null
    held_until: Timestamp | null
    rev: Generated<number>
    offered_to: Generated<string | null>
    offered_until: Generated<Date | null>
  }
  reservations: {
    id: string
    schedule_id: string
    seat_id: string
    user_id: string
    price: number
    status: 'held' | 'confirmed' | 'expired' | 'cancelled' | 'refunded'
    expires_at: Timestamp
    created_at: CreatedAt
    confirmed_at: Timestamp | null
    ended_at: Timestamp | null
  }
  coupons: {
    id: string
    name: string
    discount_type: 'fixed' | 'percent'
    discount_value: number
    total_quantity: number
    issued_count: Generated<number>
    created_at: CreatedAt
  }
  user_coupons: {
    id: string
    coupon_id: string
    user_id: string
    status: Generated<'available' | 'used'>
    issued_at: CreatedAt
    used_at: Timestamp | null
    used_by_reservation_id: string | null
  }
  payments: {
    id: string
    reservation_id: string
    user_id: string
    price: number
    discount: number
    amount: number
    user_coupon_id: string | null
    created_at: CreatedAt
  }
  queue_state: {
    schedule_id: string
    sequence_name: string
    opened: Generated<boolean>
    admitted_through: Generated<number>
    admit_credit: Generated<number>
    last_tick_at: Timestamp | null
  }
  queue_entries: {
    schedule_id: string
    user_id: string
    seq: number | null
    status: Generated<'waiting' | 'admitted' | 'left' | 'completed'>
    entered_at: CreatedAt
    admitted_at: Timestamp | null
    admitted_until: Timestamp | null
  }
  schedule_sales: {
    schedule_id: string
    sold_count: number
    sold_out_at: Timestamp | null
    updated_at: Timestamp
    // The schedule's seats, written with it (0014); null on a row a consumer created without the schedule's
    seat_count: number | null
  }
  concert_daily_sales: { concert_id: string; day: string; sold_count: number }
  outbox: {
    seq: Generated<number>
    id: string
    topic: string
    key: string
    event: unknown
    created_at: CreatedAt
  }
  // The relay's end of each Kafka partition, written with the delete of its batch (0012)
  relay_positions: { topic: string; partition: number; next_offset: number; updated_at: Generated<Timestamp> }
  event_partitions: { topic: string; partition: number; next_offset: number }
  event_log: {
    topic: string
    partition: number
    offset: number
    key: string
    value: string
    headers: unknown
    appended_at: CreatedAt
  }
  consumer_offsets: { group_id: string; topic: string; partition: number; committed: number }
  consumer_members: { group_id: string; member_id: string; heartbeat_at: Timestamp }
  consumer_leases: {
    group_id: string
    topic: string
    partition: number
    member_id: string
    expires_at: Timestamp
  }
  processed_events: { group_id: string; event_id: string; processed_at: CreatedAt }
  dead_letters: {
    id: string
    group_id: string
    original_topic: string
    original_partition: number
    original_offset: string
    key: string
    event_id: string | null
    event_type: string | null
    value: string
    error: string
    attempts: number
    first_failed_at: Timestamp
    last_failed_at: Timestamp
    status: Generated<'dead' | 'replayed'>
    replayed_at: Timestamp | null
    created_at: CreatedAt
  }
  coupon_requests: {
    id: string
    seq: Generated<number>
    coupon_id: string
    user_id: string
    status: Generated<'pending' | 'issued' | 'rejected'>
    reason: string | null
    user_coupon_id: string | null
    requested_at: CreatedAt
    decided_at: Timestamp | null
  }
  routines: { name: string; hash: string; installed_at: Generated<Date> }
  queue_revocations: {
    seq: Generated<number>
    schedule_id: string
    user_id: string
    entry_seq: number | null
    reason: 'paid' | 'left' | 'kicked'
    revoked_at: Generated<Date>
  }
  notification_preferences: {
    user_id: string
    channel: 'webhook' | 'slack' | 'discord' | 'telegram' | 'alimtalk' | 'fcm' | 'sms'
    enabled: boolean
    target: string | null
    updated_at: Timestamp
  }
  notifications: {
    id: string
    user_id: string
    event_id: string
    kind: string
    title: string
    body: string
    payload: unknown
    read_at: Timestamp | null
    created_at: CreatedAt
  }
  notification_deliveries: {
    id: string
    notification_id: string
    channel: string
    target: string | null
    status: Generated<'pending' | 'sent' | 'failed'>
    attempts: Generated<number>
    last_error: string | null
    sent_at: Timestamp | null
  }
  // Organizer webhooks (0006)
  webhook_endpoints: {
    id: string
    url: string
    description: Generated<string>
    event_types: string[]
    secret: string
    previous_secret: string | null
    previous_secret_expires_at: Timestamp | null
    enabled: Generated<boolean>
    disabled_reason: 'gone' | 'failing' | 'organizer' | null
    disabled_at: Timestamp | null
    failing_since: Timestamp | null
    created_at: CreatedAt
    updated_at: Timestamp
  }
  webhook_deliveries: {
    id: string
    endpoint_id: string
    event_id: string
    event_type: string
    payload: string
    status: Generated<'pending' | 'succeeded' | 'failed'>
    attempts: Generated<number>
    next_attempt_at: Timestamp
    retry_window_start: Timestamp
    last_attempt_at: Timestamp | null
    last_status_code: number | null
    last_error: string | null
    last_duration_ms: number | null
    delivered_at: Timestamp | null
    created_at: CreatedAt
  }
  webhook_attempts: {
    delivery_id: string
    attempt: number
    attempted_at: Timestamp
    status_code: number | null
    duration_ms: number
    error: string | null
  }
  webhook_notices: {
    id: string
    endpoint_id: string
    kind: string
    message: string
    created_at: CreatedAt
    acknowledged_at: Timestamp | null
  }
  // Korean notification channels (0007)
  push_tokens: {
    id: string
    user_id: string
    token: string
    platform: 'android' | 'ios' | 'web'
    created_at: CreatedAt
    registered_at: Timestamp
  }
  user_phones: { user_id: string; phone_number: string; verified_at: Timestamp }
  // Top-ups (0008)
  top_up_orders: {
    id: string
    user_id: string
    amount: number
    status: ColumnType<'pending' | 'paid', 'pending' | 'paid' | undefined, 'pending' | 'paid'>
    payment_key: string | null
    ledger_id: number | null
    created_at: CreatedAt
    paid_at: Timestamp | null
  }
  phone_verifications: {
    id: string
    user_id: string
    phone_number: string
    code: string | null
    status: Generated<'pending' | 'verified' | 'superseded' | 'locked'>
    attempts: Generated<number>
    send_status: Generated<'queued' | 'sent' | 'failed'>
    send_error: string | null
    sent_at: Timestamp | null
    expires_at: Timestamp
    created_at: CreatedAt
    verified_at: Timestamp | null
  }
  // Refunds (0010)
  refunds: {
    reservation_id: string
    payment_id: string
    user_id: string
    amount: number
    coupon_restored: boolean
    refunded_by: 'fan' | 'organizer'
    reason: string | null
    receipt: unknown
    created_at: CreatedAt
  }
  // Waiting lists (0011)
  waitlist_entries: {
    schedule_id: string
    user_id: string
    seq: Generated<number>
    status: Generated<'waiting' | 'offered' | 'accepted' | 'lapsed' | 'left'>
    joined_at: CreatedAt
    updated_at: Timestamp
  }
  waitlist_offers: {
    id: string
    schedule_id: string
    seat_id: string
    user_id: string
    status: Generated<'open' | 'accepted' | 'expired' | 'withdrawn'>
    offered_at: CreatedAt
    expires_at: Timestamp
    ended_at: Timestamp | null
    reservation_id: string | null
  }
}
