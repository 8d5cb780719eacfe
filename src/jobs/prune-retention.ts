import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { effectiveInstanceSettings } from '../settings/instance-settings.ts';
import type { JobDefinition } from './definitions.ts';

const DAY_MS = 24 * 60 * 60_000;
/** Rows per delete statement: short transactions, short locks on the hot tables. */
export const RETENTION_BATCH = 1000;
/** Statements per table per run; whatever is left waits for the next daily run. */
const MAX_BATCHES = 200;

/** Deletes batch after batch until a batch comes back short (or the cap is reached); the row count. */
async function inBatches(deleteBatch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const deleted = await deleteBatch();
    total += deleted;
    if (deleted < RETENTION_BATCH) break;
  }
  return total;
}

/**
 * Finished request logs older than the cutoff (attempts go with them by cascade). The ledger is
 * never touched: a request that has ledger rows is kept, because `ledger_entries.request_id`
 * cascades and detaching it (SET NULL) would fire the rollup-coverage trigger and leave that day's
 * rollup to be rebuilt from rows that no longer exist. Only requests of a UTC day whose rollup is
 * published are deleted, so the rollup stays the record of that day (deletes never invalidate it).
 */
async function pruneRequestLogs(db: Db, cutoff: Date): Promise<number> {
  return inBatches(async () => {
    const result = await sql`
      DELETE FROM requests WHERE id IN (
        SELECT r.id FROM requests r
        WHERE coalesce(r.completed_at, r.admitted_at) < ${cutoff}
          AND r.status NOT IN ('accepted', 'in_progress')
          AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.request_id = r.id)
          AND EXISTS (SELECT 1 FROM daily_rollup_coverages c
                      WHERE c.rollup_date = (r.admitted_at AT TIME ZONE 'UTC')::date AND c.completed_at IS NOT NULL)
        LIMIT ${RETENTION_BATCH})`.execute(db);
    return Number(result.numAffectedRows ?? 0);
  });
}

async function pruneAuditEvents(db: Db, cutoff: Date): Promise<number> {
  return inBatches(async () => {
    const result = await sql`
      DELETE FROM audit_events WHERE id IN (
        SELECT id FROM audit_events WHERE occurred_at < ${cutoff} LIMIT ${RETENTION_BATCH})`.execute(db);
    return Number(result.numAffectedRows ?? 0);
  });
}

/** Sign-in flows that ended (any status but pending), by their last change. */
async function pruneFinishedOAuthFlows(db: Db, cutoff: Date): Promise<number> {
  return inBatches(async () => {
    const result = await sql`
      DELETE FROM upstream_oauth_flows WHERE id IN (
        SELECT id FROM upstream_oauth_flows
        WHERE status IN ('completed', 'failed', 'cancelled', 'expired') AND updated_at < ${cutoff}
        LIMIT ${RETENTION_BATCH})`.execute(db);
    return Number(result.numAffectedRows ?? 0);
  });
}

/**
 * Control-plane spec §13 Retention: once a day, request logs, audit events and finished OAuth flows
 * older than the instance settings' `retention` group are deleted in bounded batches. Ledger rows
 * (and so spend, limits and rollups) are kept.
 */
export const pruneRetention: JobDefinition = {
  name: 'prune-retention',
  cron: '43 3 * * *',
  expireInSeconds: 1800,
  retryLimit: 3,
  async run({ db, log, now }) {
    const at = now().getTime();
    const { retention } = await effectiveInstanceSettings(db);
    const requestLogs = await pruneRequestLogs(db, new Date(at - retention.request_logs_days * DAY_MS));
    const auditEvents = await pruneAuditEvents(db, new Date(at - retention.audit_days * DAY_MS));
    const oauthFlows = await pruneFinishedOAuthFlows(db, new Date(at - retention.finished_oauth_flows_days * DAY_MS));
    const counts = { request_logs: requestLogs, audit_events: auditEvents, finished_oauth_flows: oauthFlows };
    log.info({ job: 'prune-retention', ...counts }, 'pruned retained rows');
    return counts;
  },
};
