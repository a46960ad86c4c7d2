import type { Logger } from '../../platform/logger.ts'
import type { TopicSpec } from './port.ts'

/**
 * Logs the topics whose partitions differ from those declared; both transports keep the partitions a topic has. Fewer
 * is a warning (a group spreads over fewer instances than asked); more is information: a topic created when more were
 * declared works the same (retry and dead-letter topics once had their event topic's partitions).
 */
export function reportDeclaredPartitions(
  specs: readonly TopicSpec[],
  partitionsOf: (topic: string) => number,
  log: Logger,
): void {
  const fewer: string[] = []
  const more: string[] = []
  for (const spec of specs) {
    const partitions = partitionsOf(spec.name)
    if (partitions < spec.partitions) fewer.push(`${spec.name} (${partitions} of ${spec.partitions})`)
    else if (partitions > spec.partitions)
      more.push(`${spec.name} (${partitions}, declared ${spec.partitions})`)
  }
  if (fewer.length > 0) log.warn({ topics: fewer }, 'topics with fewer partitions than declared')
  if (more.length > 0) log.info({ topics: more }, 'topics with more partitions than declared')
}
