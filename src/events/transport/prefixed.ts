import type { ConsumerHandle, EventTransport, LagEntry, TransportRecord } from './port.ts'

/**
 * A transport whose topics and consumer groups live under a prefix (`<prefix>.reservation.held`,
 * `<prefix>.ranking`), so several environments share one Kafka cluster without seeing each other's events. The relay
 * and the runtime above it keep using the plain names: retry topics, dead letters and replay work unchanged.
 */
export function prefixed(inner: EventTransport, prefix: string): EventTransport {
  const to = (name: string) => `${prefix}.${name}`
  const from = (name: string) => (name.startsWith(`${prefix}.`) ? name.slice(prefix.length + 1) : name)
  return {
    kind: inner.kind,
    ensureTopics: (specs) => inner.ensureTopics(specs.map((s) => ({ ...s, name: to(s.name) }))),
    async publish(records) {
      const ends = await inner.publish(records.map((r) => ({ ...r, topic: to(r.topic) })))
      return ends?.map((e) => ({ ...e, topic: from(e.topic) }))
    },
    ...(inner.publishWithin
      ? {
          publishWithin: (tx, records) =>
            inner.publishWithin!(
              tx,
              records.map((r) => ({ ...r, topic: to(r.topic) })),
            ),
        }
      : {}),
    ...(inner.partitionBounds && inner.readHeader
      ? {
          async partitionBounds(topics) {
            const bounds = await inner.partitionBounds!(topics.map(to))
            return new Map(
              [...bounds.values()].map((b) => [
                `${from(b.topic)}:${b.partition}`,
                { ...b, topic: from(b.topic) },
              ]),
            )
          },
          readHeader: (ranges, header) =>
            inner.readHeader!(
              ranges.map((r) => ({ ...r, topic: to(r.topic) })),
              header,
            ),
        }
      : {}),
    async consume(spec) {
      const handle = await inner.consume({
        ...spec,
        group: to(spec.group),
        topics: spec.topics.map(to),
        handle: (record: TransportRecord, signal: AbortSignal) =>
          spec.handle({ ...record, topic: from(record.topic) }, signal),
      })
      const wrapped: ConsumerHandle = {
        group: spec.group,
        assignments: () => handle.assignments().map((a) => ({ ...a, topic: from(a.topic) })),
        waitingForDue: () => handle.waitingForDue(),
        close: () => handle.close(),
      }
      return wrapped
    },
    async lag(groups) {
      const entries = await inner.lag(groups.map((g) => ({ group: to(g.group), topics: g.topics.map(to) })))
      return entries.map((e: LagEntry) => ({ ...e, group: from(e.group), topic: from(e.topic) }))
    },
    ...(inner.lagAsFarAsKnown
      ? {
          async lagAsFarAsKnown(groups) {
            const read = await inner.lagAsFarAsKnown!(
              groups.map((g) => ({ group: to(g.group), topics: g.topics.map(to) })),
            )
            const back = <T extends { group: string; topic: string }>(e: T): T => ({
              ...e,
              group: from(e.group),
              topic: from(e.topic),
            })
            return { ...read, entries: read.entries.map(back), unknown: read.unknown.map(back) }
          },
        }
      : {}),
    close: () => inner.close(),
  }
}
