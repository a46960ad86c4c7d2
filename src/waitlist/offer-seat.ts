import { sql } from 'kysely'
import type { Db } from '../platform/db.ts'
import { type Routine, routine } from '../platform/routines.ts'

/**
 * Offers a seat that came back to the next fan waiting on its schedule's list, in the caller's transaction: only while
 * the seat is free and offered to nobody (the seat row is locked first; a unique index holds one open offer per seat
 * and per fan whatever happens above it). The fan is admitted to the schedule until the offer's deadline, so they hold
 * it with a queue token like any admitted fan, without waiting in the line. Returns the offer id, or null when there
 * was nothing to offer or nobody to offer it to (the seat is then on sale to everyone).
 */
export async function offerSeat(tx: Db, seatId: string, offerSeconds: number): Promise<string | null> {
  const result = await sql<{ offer: string | null }>`
    select waitlist_offer_seat(${seatId}::uuid, ${offerSeconds}::float8) as offer`.execute(tx)
  return result.rows[0]?.offer ?? null
}

export type OfferExpiry = 'expired' | 'not-due' | 'done'

/**
 * Ends an open offer whose deadline passed (by the database clock) and offers the seat to the next fan: 'expired' when
 * this call ended it, 'not-due' while its deadline is still ahead, 'done' when it had ended already (taken, withdrawn).
 */
export async function expireOffer(tx: Db, offerId: string, offerSeconds: number): Promise<OfferExpiry> {
  const result = await sql<{ outcome: OfferExpiry }>`
    select waitlist_expire_offer(${offerId}::uuid, ${offerSeconds}::float8) as outcome`.execute(tx)
  return result.rows[0]!.outcome
}

export const offerSeatRoutine: Routine = routine(
  'waitlist_offer_seat',
  `create or replace function waitlist_offer_seat(p_seat uuid, p_offer_seconds double precision) returns uuid
   language plpgsql as $$
  declare
    v_seat record;
    v_fan record;
    v_offer uuid := uuid_v7();
    v_until timestamptz;
    v_sequence text;
  begin
    -- The seat first (the lock order; the fan is not known before the seat is ours to offer).
    select id, schedule_id, status, offered_to, offered_until into v_seat from seats where id = p_seat for update;
    if not found or v_seat.status <> 'available' then
      return null;
    end if;
    -- Offered to someone now, or an offer past its deadline that its expiry will move on: nothing to do here.
    if (v_seat.offered_to is not null and v_seat.offered_until > now())
       or exists (select 1 from waitlist_offers where seat_id = p_seat and status = 'open') then
      return null;
    end if;
    select user_id into v_fan from waitlist_entries
     where schedule_id = v_seat.schedule_id and status = 'waiting' order by seq limit 1 for update skip locked;
    if not found then
      update seats set offered_to = null, offered_until = null where id = p_seat and offered_to is not null;
      return null;
    end if;
    v_until := now() + make_interval(secs => p_offer_seconds);
    insert into waitlist_offers (id, schedule_id, seat_id, user_id, expires_at)
    values (v_offer, v_seat.schedule_id, p_seat, v_fan.user_id, v_until);
    update waitlist_entries set status = 'offered', updated_at = now()
     where schedule_id = v_seat.schedule_id and user_id = v_fan.user_id;
    update seats set offered_to = v_fan.user_id, offered_until = v_until where id = p_seat;
    -- The offer admits the fan to the schedule until its deadline (a spent or given-back admission gets a new place,
    -- so its revoked tokens stay revoked); a longer admission they already have is kept.
    select sequence_name into v_sequence from queue_state where schedule_id = v_seat.schedule_id;
    insert into queue_entries as q (schedule_id, user_id, seq, status, admitted_at, admitted_until)
    values (v_seat.schedule_id, v_fan.user_id, nextval(v_sequence::regclass), 'admitted', now(), v_until)
    on conflict (schedule_id, user_id) do update set
      seq = case when q.status in ('left', 'completed') or q.seq is null then excluded.seq else q.seq end,
      admitted_at = case when q.status = 'admitted' and q.admitted_until > now() then q.admitted_at else now() end,
      admitted_until = case when q.status = 'admitted' and q.admitted_until > excluded.admitted_until
                            then q.admitted_until else excluded.admitted_until end,
      status = 'admitted';
    perform outbox_append('waitlist.offered', p_seat::text, jsonb_build_object(
      'offerId', v_offer, 'scheduleId', v_seat.schedule_id, 'seatId', p_seat, 'userId', v_fan.user_id,
      'expiresAt', iso_time(v_until)));
    return v_offer;
  end $$`,
)

export const expireOfferRoutine: Routine = routine(
  'waitlist_expire_offer',
  `create or replace function waitlist_expire_offer(p_offer uuid, p_offer_seconds double precision) returns text
   language plpgsql as $$
  declare
    v_offer record;
  begin
    select id, schedule_id, seat_id, user_id, status, expires_at into v_offer from waitlist_offers where id = p_offer;
    if not found or v_offer.status <> 'open' then
      return 'done';
    end if;
    if v_offer.expires_at > clock_timestamp() then
      return 'not-due';
    end if;
    -- Lock order: the seat, then the offer and the fan's entry.
    perform 1 from seats where id = v_offer.seat_id for update;
    update waitlist_offers set status = 'expired', ended_at = now() where id = p_offer and status = 'open';
    if not found then
      return 'done';
    end if;
    update waitlist_entries set status = 'lapsed', updated_at = now()
     where schedule_id = v_offer.schedule_id and user_id = v_offer.user_id and status = 'offered';
    update seats set offered_to = null, offered_until = null
     where id = v_offer.seat_id and offered_to = v_offer.user_id;
    perform waitlist_offer_seat(v_offer.seat_id, p_offer_seconds);
    return 'expired';
  end $$`,
)
