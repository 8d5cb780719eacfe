import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle, type Db } from '../../src/db/index.ts';
import { pruneRetention } from '../../src/jobs/prune-retention.ts';
import { createPool } from '../../src/pools/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';

// Its own database: the job deletes across the whole instance, which would eat other files' rows.
let scratch: ScratchDatabase;
let handle: DatabaseHandle;
let db: Db;

const NOW = new Date('2026-06-30T12:00:00Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000);
const ctx = () => ({ db, log: pino({ level: 'silent' }), now: () => NOW, credentials: null, accountDeps: null });

beforeAll(async () => {
  scratch = await createScratchDatabase('retention');
  handle = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  db = handle.db;
  await migrateToLatest(db);
}, 60_000);

afterAll(async () => {
  await handle?.close();
  await scratch?.drop();
});

async function insertRequest(poolId: string, opts: { admittedAt: Date; completedAt?: Date | null; status?: string; ledger?: boolean }): Promise<string> {
  const id = randomUUID();
  const completed = opts.completedAt === undefined ? opts.admittedAt : opts.completedAt;
  await sql`INSERT INTO requests (id, pool_id, endpoint, transport, status, correlation_id, admitted_at, completed_at)
    VALUES (${id}, ${poolId}, '/backend-api/codex/responses', 'http_sse', ${opts.status ?? 'succeeded'}, ${id}, ${opts.admittedAt}, ${completed})`.execute(db);
  await sql`INSERT INTO attempts (request_id, attempt_number, status, started_at) VALUES (${id}, 1, 'succeeded', ${opts.admittedAt})`.execute(db);
  if (opts.ledger) {
    await sql`INSERT INTO ledger_entries (request_id, pool_id, entry_kind, request_count, estimated_cost_micros, source_event_id, occurred_at)
      VALUES (${id}, ${poolId}, 'reservation', 1, 50, ${`request:${id}:reservation`}, ${opts.admittedAt})`.execute(db);
  }
  return id;
}

const coverDay = (day: Date) =>
  sql`INSERT INTO daily_rollup_coverages (rollup_date, contract_version, completed_at, mutation_version)
      VALUES ((${day}::timestamptz AT TIME ZONE 'UTC')::date, 2, ${NOW}, 0) ON CONFLICT (rollup_date) DO UPDATE SET completed_at = ${NOW}`.execute(db);

async function insertFlow(poolId: string, status: string, updatedAt: Date): Promise<string> {
  const rows = await sql<{ id: string }>`INSERT INTO upstream_oauth_flows (pool_id, flow_kind, purpose, status, device_auth_id_ciphertext, expires_at, created_at, updated_at)
    VALUES (${poolId}, 'device', 'link', ${status}, 'ciphertext', ${updatedAt}, ${updatedAt}, ${updatedAt}) RETURNING id`.execute(db);
  return rows.rows[0]!.id;
}

async function insertAudit(occurredAt: Date): Promise<string> {
  const rows = await sql<{ id: string }>`INSERT INTO audit_events (occurred_at, actor_type, action) VALUES (${occurredAt}, 'system', 'test.retention') RETURNING id`.execute(db);
  return rows.rows[0]!.id;
}

const exists = async (table: 'requests' | 'audit_events' | 'upstream_oauth_flows', id: string) =>
  Number((await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(table)} WHERE id = ${id}`.execute(db)).rows[0]!.n) === 1;

describe('prune-retention job', () => {
  test('deletes old request logs, audit events and finished OAuth flows per the retention settings; keeps the ledger', async () => {
    const pool = await createPool(db, cliActor(), { name: `retention-${randomBytes(4).toString('hex')}` });
    await sql`INSERT INTO instance_settings (singleton, settings) VALUES (true, ${JSON.stringify({ retention: { request_logs_days: 10, audit_days: 20, finished_oauth_flows_days: 3 } })}::jsonb)
      ON CONFLICT (singleton) DO UPDATE SET settings = EXCLUDED.settings`.execute(db);

    const oldDay = daysAgo(15);
    const uncoveredDay = daysAgo(16);
    const oldPlain = await insertRequest(pool.id, { admittedAt: oldDay });
    const oldFailed = await insertRequest(pool.id, { admittedAt: oldDay, status: 'failed' });
    const oldWithLedger = await insertRequest(pool.id, { admittedAt: oldDay, ledger: true });
    const oldInProgress = await insertRequest(pool.id, { admittedAt: oldDay, completedAt: null, status: 'in_progress' });
    const oldUncovered = await insertRequest(pool.id, { admittedAt: uncoveredDay });
    // Admitted before the cutoff but completed after it: still within retention.
    const completedRecently = await insertRequest(pool.id, { admittedAt: oldDay, completedAt: daysAgo(5) });
    const recent = await insertRequest(pool.id, { admittedAt: daysAgo(2) });
    // Published after the inserts (a late row un-publishes its day), as the nightly rebuild would.
    await coverDay(oldDay);

    const auditOld = await insertAudit(daysAgo(21));
    const auditKept = await insertAudit(daysAgo(19));

    const flowOldDone = await insertFlow(pool.id, 'completed', daysAgo(4));
    const flowOldExpired = await insertFlow(pool.id, 'expired', daysAgo(30));
    const flowOldPending = await insertFlow(pool.id, 'pending', daysAgo(30));
    const flowRecentFailed = await insertFlow(pool.id, 'failed', daysAgo(1));

    const ledgerBefore = (await sql<{ n: number }>`SELECT count(*) AS n FROM ledger_entries`.execute(db)).rows[0]!.n;
    const coverageBefore = (await sql<Record<string, unknown>>`SELECT * FROM daily_rollup_coverages ORDER BY rollup_date`.execute(db)).rows;

    const result = await pruneRetention.run(ctx(), {});
    expect(result).toEqual({ request_logs: 2, audit_events: 1, finished_oauth_flows: 2 });

    expect(await exists('requests', oldPlain)).toBe(false);
    expect(await exists('requests', oldFailed)).toBe(false);
    const attempts = await sql<{ n: number }>`SELECT count(*) AS n FROM attempts WHERE request_id IN (${oldPlain}, ${oldFailed})`.execute(db);
    expect(Number(attempts.rows[0]!.n)).toBe(0);
    for (const kept of [oldWithLedger, oldInProgress, oldUncovered, completedRecently, recent]) expect(await exists('requests', kept)).toBe(true);

    expect(await exists('audit_events', auditOld)).toBe(false);
    expect(await exists('audit_events', auditKept)).toBe(true);

    expect(await exists('upstream_oauth_flows', flowOldDone)).toBe(false);
    expect(await exists('upstream_oauth_flows', flowOldExpired)).toBe(false);
    expect(await exists('upstream_oauth_flows', flowOldPending)).toBe(true);
    expect(await exists('upstream_oauth_flows', flowRecentFailed)).toBe(true);

    // The ledger and the rollup coverage are untouched.
    expect((await sql<{ n: number }>`SELECT count(*) AS n FROM ledger_entries`.execute(db)).rows[0]!.n).toBe(ledgerBefore);
    const linked = await sql<{ n: number }>`SELECT count(*) AS n FROM ledger_entries WHERE request_id = ${oldWithLedger}`.execute(db);
    expect(Number(linked.rows[0]!.n)).toBe(1);
    expect((await sql<Record<string, unknown>>`SELECT * FROM daily_rollup_coverages ORDER BY rollup_date`.execute(db)).rows).toEqual(coverageBefore);

    // A second run finds nothing left to prune.
    expect(await pruneRetention.run(ctx(), {})).toEqual({ request_logs: 0, audit_events: 0, finished_oauth_flows: 0 });
  }, 60_000);

  test('works through more rows than one batch', async () => {
    const pool = await createPool(db, cliActor(), { name: `retention-batch-${randomBytes(4).toString('hex')}` });
    const day = daysAgo(40);
    await sql`INSERT INTO requests (pool_id, endpoint, transport, status, correlation_id, admitted_at, completed_at)
      SELECT ${pool.id}, '/backend-api/codex/responses', 'http_sse', 'succeeded', gen_random_uuid()::text, ${day}, ${day} FROM generate_series(1, 2500)`.execute(db);
    await coverDay(day);
    const result = await pruneRetention.run(ctx(), {});
    expect(result).toMatchObject({ request_logs: 2500 });
    const left = await sql<{ n: number }>`SELECT count(*) AS n FROM requests WHERE pool_id = ${pool.id}`.execute(db);
    expect(Number(left.rows[0]!.n)).toBe(0);
  }, 60_000);
});
