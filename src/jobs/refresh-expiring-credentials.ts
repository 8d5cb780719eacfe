import type { JobDefinition } from './definitions.ts';

const AHEAD_MS = 15 * 60_000;
const BATCH = 50;

/**
 * Refreshes access tokens before they expire, so requests rarely wait on a refresh. Safe to run
 * beside web processes: the refresh is single-flight per account across processes.
 */
export const refreshExpiringCredentials: JobDefinition = {
  name: 'refresh-expiring-credentials',
  cron: '*/5 * * * *',
  expireInSeconds: 240,
  retryLimit: 1,
  async run({ db, log, now, credentials }) {
    if (!credentials) throw new Error('refresh-expiring-credentials needs the credential store');
    const due = await db
      .selectFrom('upstream_identities as i')
      .select(['i.id'])
      .where('i.status', 'in', ['active', 'refresh_failed'])
      .where('i.access_token_expires_at', '<', new Date(now().getTime() + AHEAD_MS))
      .where((eb) => eb.exists(eb.selectFrom('pool_upstream_assignments as a').select('a.id').whereRef('a.upstream_identity_id', '=', 'i.id').where('a.status', '=', 'active')))
      .orderBy('i.access_token_expires_at')
      .limit(BATCH)
      .execute();
    const outcomes: Record<string, number> = {};
    for (const { id } of due) {
      const result = await credentials.refresh(id, { trigger: 'scheduled' });
      outcomes[result.status] = (outcomes[result.status] ?? 0) + 1;
    }
    log.info({ job: 'refresh-expiring-credentials', due: due.length, outcomes }, 'refreshed expiring upstream credentials');
    return { due: due.length, outcomes };
  },
};
