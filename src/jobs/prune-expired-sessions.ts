import type { JobDefinition } from './definitions.ts';

/** Operator browser sessions past their expiry are deleted; their tokens are useless already. */
export const pruneExpiredSessions: JobDefinition = {
  name: 'prune-expired-sessions',
  cron: '*/15 * * * *',
  expireInSeconds: 300,
  retryLimit: 3,
  async run({ db, log, now }) {
    const result = await db.deleteFrom('sessions').where('expires_at', '<', now()).executeTakeFirst();
    const deleted = Number(result.numDeletedRows ?? 0);
    log.info({ job: 'prune-expired-sessions', deleted }, 'pruned expired operator sessions');
    return { deleted };
  },
};
