import { Gauge } from 'prom-client'
import type { SeatBoard } from '../booking/seat-board.ts'
import type { Module } from '../module.ts'
import { queueSettingsFrom } from '../queue/index.ts'
import type { QueueWatch } from '../queue/queue-watch.ts'
import { StreamRegistry } from './event-stream.ts'
import { LineFeed } from './follow-place.ts'
import { liveRoutes } from './live-routes.ts'
import { SeatFeed } from './seat-feed.ts'

/**
 * Push streams for fans' pages: the live seat map (from this instance's seat board, which hears every instance's
 * changes) and each fan's place in line (from this instance's watermarks). Neither reads the database per change.
 */
export function liveModule(sources: { board: SeatBoard; watch: QueueWatch }): Module {
  return {
    name: 'live',
    async install({ http, db, tokens, guard, config, logger, metrics }) {
      const open = new Gauge({
        name: 'live_streams_open',
        help: 'Push streams open on this instance, by kind',
        labelNames: ['kind'],
        registers: [metrics.registry],
      })
      const streams = new StreamRegistry({
        max: config.STREAMS_MAX_PER_INSTANCE,
        heartbeatMs: config.STREAM_HEARTBEAT_MS,
        onCount: (kind, delta) => open.inc({ kind }, delta),
      })
      const seats = new SeatFeed()
      sources.board.onChange((change) => seats.accept(change))
      const lines = new LineFeed(sources.watch)
      // Open streams never end by themselves: end them before the server waits for its connections to close.
      http.addHook('preClose', async () => streams.closeAll())
      await http.register(liveRoutes, {
        db,
        tokens,
        guard,
        watch: sources.watch,
        settings: queueSettingsFrom(config),
        streams,
        seats,
        lines,
        logger,
      })
      return []
    },
  }
}
