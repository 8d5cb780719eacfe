import { releaseStaleReservations } from '../accounting/index.ts';
import type { JobDefinition } from './definitions.ts';

/**
 * Spec §9 RuntimeStateCleanup, ledger part: reservations older than an hour that nothing settled or
 * released (their process crashed) are released, so every request ends up accounted.
 * `{ older_than_minutes: N }` overrides the age.
 */
export const releaseStaleReservationsJob: JobDefinition = {
  name: 'release-stale-reservations',
  cron: '*/15 * * * *',
  expireInSeconds: 300,
  retryLimit: 3,
  async run({ db, log, now }, data) {
    const minutes = typeof data.older_than_minutes === 'number' && data.older_than_minutes > 0 ? data.older_than_minutes : null;
    const result = await releaseStaleReservations(db, { now: now(), ...(minutes ? { olderThanMs: minutes * 60_000 } : {}) });
    log.info({ job: 'release-stale-reservations', ...result }, 'released stale reservations');
    return result;
  },
};
