import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { releaseStaleReservations } from '../../src/accounting/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { createLogger } from '../../src/http/logger.ts';
import { createPool } from '../../src/pools/index.ts';
import { createServices } from '../../src/services.ts';
import { importAuthJson } from '../../src/upstreams/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { killAllPoolers, poolerEnv, runPooler, startPooler, testSecrets, type PoolerProcess } from '../support/processes.ts';

/**
 * The ledger survives a shutdown under load: a real web process on PostgreSQL serves slow streams
 * from the fake upstream, gets SIGTERM half-way through a burst, and exits; then every request in
 * the request log has its reservation and its settlement or release, and every client either got
 * its whole answer or a clean refusal.
 */
let database: ScratchDatabase;
let upstream: FakeUpstream;
let dataDir: string;
let env: NodeJS.ProcessEnv;
let handle: DatabaseHandle;
let web: PoolerProcess | null = null;
let key: string;
let poolId: string;

beforeAll(async () => {
  database = await createScratchDatabase('ledger_shutdown');
  upstream = await startFakeUpstream();
  dataDir = await mkdtemp(join(tmpdir(), 'cxp-ledger-'));
  const secrets = testSecrets();
  env = poolerEnv({
    DATABASE_URL: database.url,
    ...secrets,
    PORT: '0',
    CODEX_POOLER_DATA_DIR: dataDir,
    POOL_SIZE: '4',
    CODEX_POOLER_UPSTREAM_BASE_URL: upstream.url,
    CODEX_POOLER_AUTH_ISSUER: upstream.url,
    // In-flight streams get 2 s after SIGTERM (the floor is 1 s), then their connections are cut.
    CODEX_POOLER_WEBSOCKET_DRAIN_TIMEOUT_MS: '2000',
  });
  const migrated = await runPooler(['migrate'], { env });
  expect(migrated.code, migrated.stderr).toBe(0);
  const config = parseConfig({ ...secrets, DATABASE_URL: database.url, POOL_SIZE: '2', CODEX_POOLER_UPSTREAM_BASE_URL: upstream.url, CODEX_POOLER_AUTH_ISSUER: upstream.url, LOG_LEVEL: 'silent' });
  handle = await openDatabase(config.database, { onError: () => {} });
  const services = createServices(config, handle, createLogger({ level: 'silent' }));
  const pool = await createPool(handle.db, cliActor(), { name: 'ledger-shutdown' });
  poolId = pool.id;
  for (const accountId of ['acct-ledger-a', 'acct-ledger-b']) {
    const account = await upstream.addAccount({ accountId, email: `${accountId}@example.com` });
    await importAuthJson(services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
  }
  key = (await mintApiKey({ db: handle.db, notifier: handle.notifier }, cliActor(), { pool: pool.slug, label: 'load' })).key;
  await services.close();
}, 120_000);

afterAll(async () => {
  await killAllPoolers();
  await handle?.close();
  await upstream?.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

type Outcome = 'completed' | 'refused' | 'broken';

/** One client request: the whole stream (ends with response.completed), a clean refusal (no connection, or an error envelope), or broken. */
async function streamOnce(port: number, index: number): Promise<Outcome> {
  let response: Response;
  try {
    response = await fetch(`http://127.0.0.1:${port}/backend-api/codex/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: `request ${index}` }] }], stream: true }),
    });
  } catch {
    return 'refused'; // the listener was already closed
  }
  try {
    const text = await response.text();
    if (response.status === 200) return text.includes('event: response.completed') ? 'completed' : 'broken';
    const body = JSON.parse(text) as { error?: { code?: string } };
    return response.status >= 400 && typeof body.error?.code === 'string' ? 'refused' : 'broken';
  } catch {
    return 'broken';
  }
}

describe('ledger on shutdown', () => {
  test('SIGTERM during load loses no ledger row: every request has its reservation and its settlement or release', async () => {
    web = startPooler(['serve'], env);
    const port = await web.waitForListening();
    // Slow streams: each answer takes several hundred milliseconds, so many are in flight at SIGTERM.
    upstream.setEventDelayMs(40);
    const outcomes: Promise<Outcome>[] = [];
    for (let index = 0; index < 40; index++) {
      outcomes.push(streamOnce(port, index));
      if (index === 24) web.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 15));
    }
    const results = await Promise.all(outcomes);
    expect(await web.stop('SIGTERM', 60_000)).toBe(0);
    upstream.setEventDelayMs(0);

    expect(results.filter((r) => r === 'broken'), JSON.stringify(results)).toEqual([]);
    const completed = results.filter((r) => r === 'completed').length;
    // SIGTERM landed mid-burst: later requests were refused, earlier ones (many still streaming) finished.
    expect(completed).toBeGreaterThan(0);
    expect(results.filter((r) => r === 'refused').length).toBeGreaterThan(0);

    const rows = await sql<{ id: string; status: string; reservations: string; closings: string; settlements: string }>`
      SELECT r.id, r.status,
        count(e.id) FILTER (WHERE e.entry_kind = 'reservation') AS reservations,
        count(e.id) FILTER (WHERE e.entry_kind IN ('settlement', 'release')) AS closings,
        count(e.id) FILTER (WHERE e.entry_kind = 'settlement' AND e.usage_status = 'usage_known') AS settlements
      FROM requests r LEFT JOIN ledger_entries e ON e.request_id = r.id
      WHERE r.pool_id = ${poolId} GROUP BY r.id, r.status`.execute(handle.db);
    expect(rows.rows.length).toBeGreaterThanOrEqual(completed);
    for (const row of rows.rows) {
      expect({ reservations: Number(row.reservations), closings: Number(row.closings) }, `request ${row.id} (${row.status}) is reserved and closed exactly once`).toEqual({ reservations: 1, closings: 1 });
      expect(row.status).not.toBe('in_progress');
    }
    // Every answer the client saw whole was settled with the usage the upstream reported.
    expect(rows.rows.filter((r) => r.status === 'succeeded' && Number(r.settlements) === 1).length).toBe(completed);
    expect(web.logs().some((l) => l.msg === 'stopped' && l.clean === true)).toBe(true);
  }, 120_000);

  test('a reservation a crashed process left open is released by the cleanup, once', async () => {
    const db = handle.db;
    const requestId = (await sql<{ id: string }>`SELECT gen_random_uuid() AS id`.execute(db)).rows[0]!.id;
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await db
      .insertInto('requests')
      .values({ id: requestId, pool_id: poolId, endpoint: '/backend-api/codex/responses', transport: 'http_sse', status: 'in_progress', usage_status: 'usage_pending', correlation_id: requestId, client_ip: null, user_agent: null, admitted_at: twoHoursAgo, completed_at: null, response_status_code: null, last_error_code: null, latency_ms: null, time_to_first_byte_ms: null, input_tokens: null, cached_input_tokens: null, output_tokens: null, reasoning_tokens: null, total_tokens: null, upstream_account_label: null, upstream_account_email: null, upstream_plan: null, reasoning_effort: null, service_tier: null, requested_service_tier: null, actual_service_tier: null, routing_reason: null, api_key_id: null, pool_upstream_assignment_id: null, upstream_identity_id: null, model_id: 'gpt-5.4', requested_model: 'gpt-5.4', updated_at: twoHoursAgo })
      .execute();
    await db
      .insertInto('ledger_entries')
      .values({ request_id: requestId, attempt_id: null, pricing_snapshot_id: null, pool_id: poolId, api_key_id: null, pool_upstream_assignment_id: null, upstream_identity_id: null, model: 'gpt-5.4', entry_kind: 'reservation', usage_status: 'usage_pending', transport: 'http_sse', input_tokens: 40, total_tokens: 40, request_count: 1, estimated_cost_micros: '100.000000000', settled_cost_micros: null, correction_of_entry_id: null, source_event_id: `request:${requestId}:reservation`, occurred_at: twoHoursAgo })
      .execute();

    const first = await releaseStaleReservations(db);
    expect(first).toEqual({ released: 1, failed_requests: 1 });
    expect(await releaseStaleReservations(db)).toEqual({ released: 0, failed_requests: 0 });
    const release = await db.selectFrom('ledger_entries').select(['entry_kind', 'estimated_cost_micros', 'input_tokens', 'source_event_id']).where('request_id', '=', requestId).where('entry_kind', '=', 'release').executeTakeFirstOrThrow();
    expect(release).toEqual({ entry_kind: 'release', estimated_cost_micros: '100.000000000', input_tokens: 40, source_event_id: `request:${requestId}:release` });
    expect(await db.selectFrom('requests').select(['status', 'last_error_code']).where('id', '=', requestId).executeTakeFirstOrThrow()).toEqual({ status: 'failed', last_error_code: 'reservation_expired' });
  });
});
