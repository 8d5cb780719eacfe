import { rebuildDailyRollups, staleRollupDays } from '../accounting/index.ts';
import type { JobDefinition } from './definitions.ts';

/**
 * Spec §9 DailyRollupRebuild: at 00:17 UTC, rebuild yesterday, plus any day of the last week whose
 * coverage a late or corrected row invalidated. `{ date: "YYYY-MM-DD" }` rebuilds that day only.
 * Idempotent: each day is deleted and recomputed in its own transaction.
 */
export const rebuildDailyRollupsJob: JobDefinition = {
  name: 'rebuild-daily-rollups',
  cron: '17 0 * * *',
  expireInSeconds: 1800,
  retryLimit: 3,
  async run({ db, log, now }, data) {
    const at = now();
    const days = typeof data.date === 'string' ? [data.date] : await staleRollupDays(db, { now: at });
    const rebuilt = [];
    for (const day of days) {
      const result = await rebuildDailyRollups(db, day, { now: at });
      log.info({ job: 'rebuild-daily-rollups', date: result.date, rows: result.rows, covered: result.covered, requests: result.totals.requests }, 'rebuilt daily rollups');
      rebuilt.push({ date: result.date, rows: result.rows, covered: result.covered });
    }
    return { rebuilt };
  },
};
