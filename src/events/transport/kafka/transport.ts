import { Admin, ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka'
import { answeredWithin } from '../../../platform/deadline.ts'
import { OpenConsumers } from '../consumer-loop.ts'
import type { ConsumerSpec, EventTransport, OutgoingRecord, PartitionEnd } from '../port.ts'
import { consumerLag, consumerLagAsFarAsKnown, ensureTopics, partitionBounds } from './admin.ts'
import { type KafkaConsumerOptions, startConsumer } from './consumer.ts'
import { produceRequests } from './produce-requests.ts'
import { readHeader } from './read-back.ts'

export type KafkaTransportOptions = KafkaConsumerOptions

/** The brokers answer a lag read in milliseconds. */
const LAG_TIMEOUT_MS = 3_000
/** A part of it (one leader's log ends, one group's offsets) fails alone within this, inside the whole's timeout. */
const LAG_PART_TIMEOUT_MS = 2_000

/**
 * Apache Kafka behind the transport port, through @platformatic/kafka: an idempotent producer (acks=all) that sends
 * each batch in one call, and per consumer group one Consumer whose stream feeds a PartitionDispatcher; offsets are
 * committed only for the contiguous prefix of handled records.
 */
export function createKafkaTransport(options: KafkaTransportOptions): EventTransport {
  const log = options.logger
  const base = { clientId: options.clientId, bootstrapBrokers: options.brokers }
  const producer = new Producer<string, string, string, string>({
    ...base,
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    // Bounded, so a batch fails (and the relay retries it) rather than hanging while the cluster is away.
    retries: 12,
    retryDelay: 500,
  })
  const admin = new Admin({ ...base, retries: 5, retryDelay: 500 })
  for (const client of [producer, admin])
    client.on('error', (err: unknown) => log.error({ err }, 'kafka client'))
  const consumers = new OpenConsumers()
  // A lag reading, bounded: a cluster that takes connections and never answers held each caller (the console, its
  // summary, a metrics scrape, a shutdown waiting on them) for the client's request timeouts and retries, minutes.
  const bounded = <T>(reading: Promise<T>) =>
    answeredWithin(reading, LAG_TIMEOUT_MS, `no answer within ${LAG_TIMEOUT_MS} ms`)

  return {
    kind: 'kafka',

    ensureTopics: (specs) => ensureTopics(admin, specs, log),

    async publish(records: readonly OutgoingRecord[]) {
      if (records.length === 0) return []
      const metadata = await producer.metadata({ topics: [...new Set(records.map((r) => r.topic))] })
      const partitionsOf = (topic: string) => metadata.topics.get(topic)!.partitionsCount
      // One send per request that fits the brokers' batch limit (usually one); the library groups each by leader and
      // sends one request per broker, in array order per partition. The partition is the one `partitionFor` gives.
      const ends = new Map<string, PartitionEnd>()
      for (const request of produceRequests(records, partitionsOf)) {
        const result = await producer.send({
          messages: request.map(({ record: r, partition }) => ({
            topic: r.topic,
            partition,
            key: r.key,
            value: r.value,
            headers: r.headers,
          })),
        })
        // Each partition's records got consecutive offsets from the base offset its acknowledgement carries.
        const written = new Map<string, number>()
        for (const { record, partition } of request) {
          const slot = `${record.topic}:${partition}`
          written.set(slot, (written.get(slot) ?? 0) + 1)
        }
        for (const { topic, partition, offset } of result.offsets ?? []) {
          const slot = `${topic}:${partition}`
          ends.set(slot, { topic, partition, end: offset + BigInt(written.get(slot) ?? 0) })
        }
      }
      return [...ends.values()]
    },

    partitionBounds: (topics) => partitionBounds(admin, topics),

    readHeader: (ranges, header) => readHeader(options, ranges, header),

    async consume(spec: ConsumerSpec) {
      const consumer = await startConsumer(spec, options)
      return consumers.track({ group: spec.group, ...consumer })
    },

    lag: (groups) => bounded(consumerLag(admin, groups, LAG_PART_TIMEOUT_MS)),

    lagAsFarAsKnown: (groups) => bounded(consumerLagAsFarAsKnown(admin, groups, LAG_PART_TIMEOUT_MS)),

    async close() {
      await consumers.closeAll()
      await producer.close(true).catch((err: unknown) => log.warn({ err }, 'closing kafka producer'))
      await admin.close().catch((err: unknown) => log.warn({ err }, 'closing kafka admin'))
    },
  }
}
