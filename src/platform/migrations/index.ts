import type { Migration, MigrationProvider } from 'kysely/migration'
import * as bookingCore from './0001-booking-core.ts'
import * as eventBackbone from './0002-event-backbone.ts'
import * as sideEffects from './0003-side-effects.ts'
import * as coalescedNotify from './0004-coalesced-outbox-notify.ts'
import * as hotPaths from './0005-hot-paths.ts'
import * as organizerWebhooks from './0006-organizer-webhooks.ts'
import * as koreanChannels from './0007-korean-channels.ts'
import * as walletTopUps from './0008-wallet-top-ups.ts'
import * as refunds from './0010-refunds.ts'
import * as waitingLists from './0011-waiting-lists.ts'
import * as relayPositions from './0012-relay-positions.ts'
import * as oneSeatLabelIndex from './0013-one-seat-label-index.ts'
import * as scheduleSeatCount from './0014-schedule-seat-count.ts'

/** Migrations in order; a new one is appended here and never edited once shipped. */
export const migrations: Record<string, Migration> = {
  '0001-booking-core': bookingCore,
  '0002-event-backbone': eventBackbone,
  '0003-side-effects': sideEffects,
  '0004-coalesced-outbox-notify': coalescedNotify,
  '0005-hot-paths': hotPaths,
  '0006-organizer-webhooks': organizerWebhooks,
  '0007-korean-channels': koreanChannels,
  '0008-wallet-top-ups': walletTopUps,
  '0010-refunds': refunds,
  '0011-waiting-lists': waitingLists,
  '0012-relay-positions': relayPositions,
  '0013-one-seat-label-index': oneSeatLabelIndex,
  '0014-schedule-seat-count': scheduleSeatCount,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
