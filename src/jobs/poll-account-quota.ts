import { sql } from 'kysely';
import { primeAccount, ROUTING_CHANNEL } from '../upstreams/index.ts';
import type { JobDefinition } from './definitions.ts';

const CADENCE_MS = 5 * 60_000;
const BATCH = 50;
const STALE_AFTER = '15 minutes';

/**
 * Quota polling (routing spec A10.3): reads each active account's usage document (and model list)
 * so routing has fresh windows even for accounts that served nothing lately, and marks old
 * evidence stale. The scheduler enqueues it every minute; a worker runs it.
 */
export const pollAccountQuota: JobDefinition = {
  name: 'poll-account-quota',
  cron: '* * * * *',
  expireInSeconds: 55,
  retryLimit: 0,
  async run({ db, log, now, credentials, accountDeps: deps }) {
    if (!credentials || !deps) throw new Error('poll-account-quota needs the account services');
    const marked = await db
      .updateTable('account_quota_windows')
      .set({ freshness_state: 'stale' })
      .where('freshness_state', '=', 'fresh')
      .where('observed_at', '<', sql<Date>`now() - ${sql.lit(STALE_AFTER)}::interval`)
      .executeTakeFirst();
    const due = await db
      .selectFrom('pool_upstream_assignments as a')
      .innerJoin('upstream_identities as i', 'i.id', 'a.upstream_identity_id')
      .innerJoin('pools as p', 'p.id', 'a.pool_id')
      .select(['a.pool_id', 'i.id as identity_id', 'i.chatgpt_account_id'])
      .where('a.status', '=', 'active')
      .where('p.status', '=', 'active')
      .where('i.status', 'in', ['active', 'refreshing'])
      .where((eb) => eb.or([eb('a.last_successful_sync_at', 'is', null), eb('a.last_successful_sync_at', '<', new Date(now().getTime() - CADENCE_MS))]))
      .orderBy('a.last_successful_sync_at', (ob) => ob.asc().nullsFirst())
      .limit(BATCH)
      .execute();
    let polled = 0;
    let withQuota = 0;
    for (const row of due) {
      try {
        const token = await credentials.accessTokenFor(row.identity_id);
        const primed = await primeAccount(deps, { poolId: row.pool_id, identityId: row.identity_id, accessToken: token.accessToken, chatgptAccountId: row.chatgpt_account_id });
        polled++;
        if (primed.quota) withQuota++;
      } catch (error) {
        log.warn({ err: error, account: row.identity_id }, 'quota poll failed for an account');
      }
    }
    if (due.length) await deps.notifier.publish(ROUTING_CHANNEL, '*');
    log.info({ job: 'poll-account-quota', due: due.length, polled, with_quota: withQuota, marked_stale: Number(marked.numUpdatedRows ?? 0) }, 'polled account quota');
    return { due: due.length, polled, withQuota };
  },
};
