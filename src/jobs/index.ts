export { startJobRunner } from './runner.ts';
export type { JobRole, JobRunner } from './runner.ts';
export type { JobDefinition, JobContext } from './definitions.ts';
import { pruneExpiredSessions } from './prune-expired-sessions.ts';
import { pruneRetention } from './prune-retention.ts';
import { pollAccountQuota } from './poll-account-quota.ts';
import { refreshExpiringCredentials } from './refresh-expiring-credentials.ts';
import { rebuildDailyRollupsJob } from './rebuild-daily-rollups.ts';
import { releaseStaleReservationsJob } from './release-stale-reservations.ts';
import type { JobDefinition } from './definitions.ts';

/** Every job this build knows; each role decides whether it consumes or schedules them. */
export const JOB_DEFINITIONS: readonly JobDefinition[] = [pruneExpiredSessions, refreshExpiringCredentials, pollAccountQuota, rebuildDailyRollupsJob, releaseStaleReservationsJob, pruneRetention];
