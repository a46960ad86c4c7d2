import { sql } from 'kysely'
import type { Db } from '../../../platform/db.ts'

/** A partition a member owns, with the next offset to fetch from it. */
export interface OwnedPartition {
  topic: string
  partition: number
  position: bigint
}

/**
 * A member of a consumer group on the embedded log. Members heartbeat; partitions are leased, renewed on every
 * heartbeat, and split evenly between the live members: a member above its share gives the surplus back, one below
 * claims free or lapsed leases. Offsets are committed fenced by the lease, so a member that lost a partition cannot
 * move its offset any more.
 */
export class GroupMembership {
  readonly #db: Db
  readonly #group: string
  readonly #memberId: string
  readonly #topics: readonly string[]
  readonly #leaseMs: number
  /** Owned partitions by `topic:partition`. */
  readonly owned = new Map<string, OwnedPartition>()

  constructor(
    db: Db,
    options: { group: string; memberId: string; topics: readonly string[]; leaseMs: number },
  ) {
    this.#db = db
    this.#group = options.group
    this.#memberId = options.memberId
    this.#topics = options.topics
    this.#leaseMs = options.leaseMs
  }

  /**
   * Renews the member and its leases, then rebalances toward an even share. Calls `revoke` (and waits) for what
   * was lost or must be given back before the leases are released, so their work is settled and committed first.
   */
  async heartbeat(
    revoke: (parts: OwnedPartition[]) => Promise<void>,
  ): Promise<{ released: number; claimed: number }> {
    const db = this.#db
    const group = this.#group
    const memberId = this.#memberId
    const leaseInterval = sql`make_interval(secs => ${this.#leaseMs / 1000})`
    // One statement per beat (every group beats every second, so this is most of an idle instance's queries):
    // the membership renewed, stale members dropped, our leases renewed, and what a rebalance needs to know. Its
    // reads see the table as it was before the writes in the same statement, so the live members are the others
    // not stale plus this one.
    const { rows } = await sql<{
      renewed: { topic: string; partition: number }[]
      partitions: { topic: string; partition: number }[]
      members: number
    }>`
      with beat as (
        insert into consumer_members (group_id, member_id, heartbeat_at) values (${group}, ${memberId}, now())
        on conflict (group_id, member_id) do update set heartbeat_at = now()
      ), stale as (
        delete from consumer_members
        where group_id = ${group} and member_id <> ${memberId} and heartbeat_at < now() - ${leaseInterval}
      ), renewed as (
        update consumer_leases set expires_at = now() + ${leaseInterval}
        where group_id = ${group} and member_id = ${memberId}
        returning topic, partition
      )
      select
        (select coalesce(json_agg(json_build_object('topic', topic, 'partition', partition)), '[]')
         from renewed) as renewed,
        -- Partition-major, so each member's share takes some partitions of every topic, not whole topics.
        (select coalesce(json_agg(json_build_object('topic', topic, 'partition', partition)
                                  order by partition, topic), '[]')
         from event_partitions where topic = any(${[...this.#topics]}::text[])) as partitions,
        1 + (select count(*)::int from consumer_members
             where group_id = ${group} and member_id <> ${memberId}
               and heartbeat_at >= now() - ${leaseInterval}) as members`.execute(db)
    const { renewed, partitions, members } = rows[0]!
    // Anything we believed ours but lost (we stalled past the lease) is revoked here.
    const still = new Set(renewed.map((r) => `${r.topic}:${r.partition}`))
    const lost = [...this.owned.entries()].filter(([id]) => !still.has(id))
    if (lost.length > 0) {
      for (const [id] of lost) this.owned.delete(id)
      await revoke(lost.map(([, p]) => p))
    }

    const share = Math.ceil(partitions.length / members)

    if (this.owned.size > share) {
      // Give back the surplus so a newcomer gets its share: finish or abort work, commit, then release.
      const surplus = [...this.owned.entries()].slice(share)
      for (const [id] of surplus) this.owned.delete(id)
      await revoke(surplus.map(([, p]) => p))
      for (const [, p] of surplus) {
        await db
          .deleteFrom('consumer_leases')
          .where('group_id', '=', group)
          .where('topic', '=', p.topic)
          .where('partition', '=', p.partition)
          .where('member_id', '=', memberId)
          .execute()
      }
      return { released: surplus.length, claimed: 0 }
    }
    let gained = 0
    for (const p of partitions) {
      if (this.owned.size >= share) break
      const id = `${p.topic}:${p.partition}`
      if (this.owned.has(id)) continue
      const claimed = await sql<{ member_id: string }>`
        insert into consumer_leases (group_id, topic, partition, member_id, expires_at)
        values (${group}, ${p.topic}, ${p.partition}, ${memberId}, now() + ${leaseInterval})
        on conflict (group_id, topic, partition) do update
          set member_id = excluded.member_id, expires_at = excluded.expires_at
          where consumer_leases.expires_at < now() or consumer_leases.member_id = excluded.member_id
        returning member_id`.execute(db)
      if (claimed.rows[0]?.member_id !== memberId) continue
      const committed = await db
        .selectFrom('consumer_offsets')
        .select('committed')
        .where('group_id', '=', group)
        .where('topic', '=', p.topic)
        .where('partition', '=', p.partition)
        .executeTakeFirst()
      this.owned.set(id, {
        topic: p.topic,
        partition: p.partition,
        position: BigInt(committed?.committed ?? 0),
      })
      gained++
    }
    return { released: 0, claimed: gained }
  }

  /** Moves the group's offset, only while this member still holds the partition's lease. */
  async commit(topic: string, partition: number, nextOffset: bigint): Promise<void> {
    await sql`
      insert into consumer_offsets (group_id, topic, partition, committed)
      select ${this.#group}, ${topic}, ${partition}, ${nextOffset.toString()}::bigint
      where exists (select 1 from consumer_leases where group_id = ${this.#group} and topic = ${topic}
                    and partition = ${partition} and member_id = ${this.#memberId})
      on conflict (group_id, topic, partition)
      do update set committed = greatest(consumer_offsets.committed, excluded.committed)`.execute(this.#db)
  }

  /** Leaves the group: releases every lease and the membership (best effort; leases lapse anyway). */
  async leave(): Promise<void> {
    await this.#db
      .deleteFrom('consumer_leases')
      .where('group_id', '=', this.#group)
      .where('member_id', '=', this.#memberId)
      .execute()
      .catch(() => {})
    await this.#db
      .deleteFrom('consumer_members')
      .where('group_id', '=', this.#group)
      .where('member_id', '=', this.#memberId)
      .execute()
      .catch(() => {})
  }
}
