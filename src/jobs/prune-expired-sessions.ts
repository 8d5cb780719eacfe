import type { JobDefinition } from './definitions.ts';

const THROTTLE_IDLE_MS = 24 * 60 * 60_000;

/**
 * Operator browser sessions and key-holder Observatory sessions past their expiry are deleted; their
 * tokens are useless already. Login throttle counters idle for a day (and not locked) go too.
 */
export const pruneExpiredSessions: JobDefinition = {
  name: 'prune-expired-sessions',
  cron: '*/15 * * * *',
  expireInSeconds: 300,
  retryLimit: 3,
  async run({ db, log, now }) {
    const at = now();
    const result = await db.deleteFrom('sessions').where('expires_at', '<', at).executeTakeFirst();
    const deleted = Number(result.numDeletedRows ?? 0);
    const observatory = await db.deleteFrom('api_key_dashboard_sessions').where('expires_at', '<', at).executeTakeFirst();
    const observatorySessions = Number(observatory.numDeletedRows ?? 0);
    const throttles = await db
      .deleteFrom('login_throttles')
      .where('updated_at', '<', new Date(at.getTime() - THROTTLE_IDLE_MS))
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', at)]))
      .executeTakeFirst();
    const prunedThrottles = Number(throttles.numDeletedRows ?? 0);
    log.info({ job: 'prune-expired-sessions', deleted, observatory_sessions: observatorySessions, pruned_login_throttles: prunedThrottles }, 'pruned expired sessions');
    return { deleted, observatory_sessions: observatorySessions, pruned_login_throttles: prunedThrottles };
  },
};
