import type { Db } from '../platform/db.ts'
import { AppError } from '../platform/errors.ts'
import type { ChannelName } from './channels.ts'

export interface Preference {
  channel: ChannelName
  enabled: boolean
  target: string | null
}

/** Saves a user's channel preferences. A user may name a Telegram chat, never a URL (the server would call it). */
export async function setPreferences(
  db: Db,
  userId: string,
  preferences: readonly Preference[],
): Promise<void> {
  for (const p of preferences) {
    // Never a URL from a user: the server would call whatever address it names (SSRF).
    if (p.channel !== 'telegram' && p.target !== null) {
      throw new AppError(
        'VALIDATION_FAILED',
        `Only a Telegram chat id can be set; ${p.channel} goes where the deployment says.`,
        {
          field: 'preferences.target',
        },
      )
    }
    if (
      p.channel === 'telegram' &&
      p.target !== null &&
      !/^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$/.test(p.target)
    ) {
      throw new AppError('VALIDATION_FAILED', 'A Telegram target is a numeric chat id or an @channel name.', {
        field: 'preferences.target',
      })
    }
  }
  await db.transaction().execute(async (tx) => {
    for (const p of preferences) {
      await tx
        .insertInto('notification_preferences')
        .values({
          user_id: userId,
          channel: p.channel,
          enabled: p.enabled,
          target: p.target,
          updated_at: new Date(),
        })
        .onConflict((oc) =>
          oc
            .columns(['user_id', 'channel'])
            .doUpdateSet({ enabled: p.enabled, target: p.target, updated_at: new Date() }),
        )
        .execute()
    }
  })
}
