import { sql } from 'kysely'
import { type DatabaseHandle, type Db, jsonColumn } from '../../../platform/db.ts'
import { execute, statement } from '../../../platform/prepared.ts'

/**
 * Takes the leases that are free, lapsed or already the member's, in one statement (claims made in the same order by
 * every member). A deadlock with another instance's claim is retried by execute().
 */
const claimStatement = statement(
  'local_claim_leases',
  `insert into consumer_leases (group_id, topic, partition, member_id, expires_at)
   select $1, w.topic, w.partition, $2, now() + make_interval(secs => $3::float8)
   from unnest($4::text[], $5::int[]) with ordinality as w(topic, partition, n)
   order by w.n
   on conflict (group_id, topic, partition) do update
     set member_id = excluded.member_id, expires_at = excluded.expires_at
     where consumer_leases.expires_at < now() or consumer_leases.member_id = excluded.member_id
   returning topic, partition`,
)

const committedStatement = statement(
  'local_claimed_offsets',
  `select o.topic, o.partition, o.committed::text as committed
   from consumer_offsets o
   join unnest($2::text[], $3::int[]) as c(topic, partition) on o.topic = c.topic and o.partition = c.partition
   where o.group_id = $1`,
)

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
  readonly #handle: DatabaseHandle
  readonly #db: Db
  readonly #group: string
  readonly #memberId: string
  readonly #topics: readonly string[]
  readonly #leaseMs: number
  readonly #rounds: HeartbeatRounds
  /** Owned partitions by `topic:partition`. */
  readonly owned = new Map<string, OwnedPartition>()

  constructor(
    handle: DatabaseHandle,
    options: {
      group: string
      memberId: string
      topics: readonly string[]
      leaseMs: number
      rounds: HeartbeatRounds
    },
  ) {
    this.#handle = handle
    this.#db = handle.db
    this.#group = options.group
    this.#memberId = options.memberId
    this.#topics = options.topics
    this.#leaseMs = options.leaseMs
    this.#rounds = options.rounds
  }

  /**
   * Renews the member and its leases (in the instance's heartbeat round), then rebalances toward an even share. Calls
   * `revoke` (and waits) for what was lost or must be given back before the leases are released, so their work is
   * settled and committed first.
   */
  async heartbeat(
    revoke: (parts: OwnedPartition[]) => Promise<void>,
  ): Promise<{ released: number; claimed: number }> {
    const db = this.#db
    const group = this.#group
    const memberId = this.#memberId
    const { renewed, partitions, members } = await this.#rounds.beat({
      group,
      memberId,
      topics: this.#topics,
    })
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
      await sql`
        delete from consumer_leases l
        using unnest(${surplus.map(([, p]) => p.topic)}::text[], ${surplus.map(([, p]) => p.partition)}::int[])
          as s(topic, partition)
        where l.group_id = ${group} and l.member_id = ${memberId}
          and l.topic = s.topic and l.partition = s.partition`.execute(db)
      return { released: surplus.length, claimed: 0 }
    }
    // Claim the free or lapsed leases up to our share, in the partition-major order, a batch at a time: the ones
    // another member holds are skipped and the next candidates tried.
    const candidates = partitions.filter((p) => !this.owned.has(`${p.topic}:${p.partition}`))
    let gained = 0
    while (this.owned.size < share && candidates.length > 0) {
      const wanted = candidates.splice(0, share - this.owned.size)
      const claimed = await this.#claim(wanted)
      for (const p of claimed) this.owned.set(`${p.topic}:${p.partition}`, p)
      gained += claimed.length
    }
    return { released: 0, claimed: gained }
  }

  /**
   * Takes the leases of `wanted` that are free, lapsed or already ours; returns those taken, at their committed
   * offsets. The offsets are read after the claim has committed: from then on the previous owner's commits are
   * fenced off, and every one it made before is visible.
   */
  async #claim(wanted: readonly { topic: string; partition: number }[]): Promise<OwnedPartition[]> {
    const group = this.#group
    const claimed = await execute<{ topic: string; partition: number }>(this.#handle, claimStatement, [
      group,
      this.#memberId,
      this.#leaseMs / 1000,
      wanted.map((p) => p.topic),
      wanted.map((p) => p.partition),
    ])
    if (claimed.length === 0) return []
    const offsets = await execute<{ topic: string; partition: number; committed: string }>(
      this.#handle,
      committedStatement,
      [group, claimed.map((p) => p.topic), claimed.map((p) => p.partition)],
    )
    const committed = new Map(offsets.map((o) => [`${o.topic}:${o.partition}`, o.committed]))
    // In the order asked for, as the claims were made one by one before.
    const taken = new Set(claimed.map((p) => `${p.topic}:${p.partition}`))
    return wanted
      .filter((p) => taken.has(`${p.topic}:${p.partition}`))
      .map((p) => ({
        topic: p.topic,
        partition: p.partition,
        position: BigInt(committed.get(`${p.topic}:${p.partition}`) ?? 0),
      }))
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

/** What a beat tells one member: the leases it renewed, its group's partitions, and how many members are live. */
export interface Beat {
  renewed: { topic: string; partition: number }[]
  partitions: { topic: string; partition: number }[]
  members: number
}

/**
 * One statement per round for the beats of every group of the instance that is due (29 groups beating once a second
 * were 29 write transactions a second on an idle instance, most of its statements): each member renewed and its
 * leases with it, the group's stale members dropped, and what a rebalance needs to know. Its reads see the tables as
 * they were before the writes in the same statement, so the live members are the others not stale plus this one.
 */
const beatStatement = statement(
  'local_heartbeat_round',
  `with input as (
     select i.group_id, i.member_id, array(select jsonb_array_elements_text(i.topics)) as topics
     from jsonb_to_recordset($1::jsonb) as i(group_id text, member_id text, topics jsonb)
   ), beat as (
     insert into consumer_members (group_id, member_id, heartbeat_at)
     select group_id, member_id, now() from input
     on conflict (group_id, member_id) do update set heartbeat_at = now()
   ), stale as (
     delete from consumer_members m
     where m.group_id in (select group_id from input)
       and (m.group_id, m.member_id) not in (select group_id, member_id from input)
       and m.heartbeat_at < now() - make_interval(secs => $2::float8)
   ), renewed as (
     update consumer_leases l set expires_at = now() + make_interval(secs => $2::float8)
     from input i
     where l.group_id = i.group_id and l.member_id = i.member_id
     returning l.group_id, l.member_id, l.topic, l.partition
   )
   select i.member_id,
     (select coalesce(json_agg(json_build_object('topic', r.topic, 'partition', r.partition)), '[]')
      from renewed r where r.group_id = i.group_id and r.member_id = i.member_id) as renewed,
     -- Partition-major, so each member's share takes some partitions of every topic, not whole topics.
     (select coalesce(json_agg(json_build_object('topic', p.topic, 'partition', p.partition)
                               order by p.partition, p.topic), '[]')
      from event_partitions p where p.topic = any(i.topics)) as partitions,
     1 + (select count(*)::int from consumer_members c
          where c.group_id = i.group_id and c.member_id <> i.member_id
            and c.heartbeat_at >= now() - make_interval(secs => $2::float8)) as members
   from input i`,
)

interface RoundEntry {
  group: string
  memberId: string
  topics: readonly string[]
  resolve(beat: Beat): void
  reject(error: unknown): void
}

/**
 * The heartbeat rounds of one instance's local consumers. The first beat due opens a round; the members half way to
 * their next beat are woken to join it, and the round goes as one statement once the tick's beats are in. Members
 * that beat together wait the same interval after, so after a round or two the instance beats once per interval.
 * Not the platform's Batcher: its first item goes at once, before the beats of the members it woke have arrived.
 */
export class HeartbeatRounds {
  readonly #handle: DatabaseHandle
  readonly #leaseMs: number
  readonly #heartbeatMs: number
  readonly #members = new Set<{ lastBeat(): number; wake(): void }>()
  #round: RoundEntry[] | undefined

  constructor(handle: DatabaseHandle, options: { leaseMs: number; heartbeatMs: number }) {
    this.#handle = handle
    this.#leaseMs = options.leaseMs
    this.#heartbeatMs = options.heartbeatMs
  }

  /** A member to wake when a round opens; returns the function that removes it. */
  register(member: { lastBeat(): number; wake(): void }): () => void {
    this.#members.add(member)
    return () => this.#members.delete(member)
  }

  /** Whether a member whose last beat was at `lastBeat` beats now: it is due, or half due and a round is open. */
  due(lastBeat: number, now = Date.now()): boolean {
    const since = now - lastBeat
    return since >= this.#heartbeatMs || (this.#round !== undefined && since >= this.#heartbeatMs / 2)
  }

  beat(member: { group: string; memberId: string; topics: readonly string[] }): Promise<Beat> {
    return new Promise<Beat>((resolve, reject) => {
      if (this.#round) {
        this.#round.push({ ...member, resolve, reject })
        return
      }
      const round = [{ ...member, resolve, reject }]
      this.#round = round
      const now = Date.now()
      for (const m of this.#members) if (now - m.lastBeat() >= this.#heartbeatMs / 2) m.wake()
      // The woken members' beats arrive in this tick's microtasks; the round goes after them.
      setImmediate(() => {
        this.#round = undefined
        void this.#send(round)
      })
    })
  }

  async #send(round: readonly RoundEntry[]): Promise<void> {
    try {
      const rows = await execute<{ member_id: string } & Beat>(this.#handle, beatStatement, [
        JSON.stringify(round.map((m) => ({ group_id: m.group, member_id: m.memberId, topics: m.topics }))),
        this.#leaseMs / 1000,
      ])
      const byMember = new Map(rows.map((r) => [r.member_id, r]))
      for (const m of round) {
        const row = byMember.get(m.memberId)
        if (!row) m.reject(new Error(`heartbeat round returned no row for member ${m.memberId}`))
        else
          m.resolve({
            renewed: jsonColumn(row.renewed),
            partitions: jsonColumn(row.partitions),
            members: row.members,
          })
      }
    } catch (error) {
      for (const m of round) m.reject(error)
    }
  }
}
