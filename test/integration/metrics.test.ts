import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { openDatabase } from '../../src/db/index.ts';
import { startJobRunner } from '../../src/jobs/index.ts';
import { createMetrics, readMetricsBearer, setMetricsBearer } from '../../src/metrics/index.ts';
import { systemScope } from '../../src/operators/scope.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { getInstanceSettings, updateInstanceSettings } from '../../src/settings/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, sendUntilTried, startGateway, TEST_SECRETS, type TestGateway } from '../support/gateway.ts';
import { poolerEnv, runPooler } from '../support/processes.ts';

let upstream: FakeUpstream;
let open: TestGateway;
let protectedGateway: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  open = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  protectedGateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream, env: { CODEX_POOLER_METRICS_TOKEN: 'scrape-token-123' } });
});
afterAll(async () => {
  await protectedGateway?.close();
  await open?.close();
  await upstream?.close();
});

/** The value of one sample, labels given in any order; 0 when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(/,(?=[a-z_]+=")/).filter(Boolean);
    if (have.length === wanted.length && wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return 0;
}

/** Sum over every series of `name` whose labels include `labels`. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(/,(?=[a-z_]+=")/);
    if (wanted.every((w) => have.includes(w))) sum += Number(match[3]);
  }
  return sum;
}

const scrape = async (gateway: TestGateway, headers: Record<string, string> = {}) => {
  const response = await fetch(`${gateway.url}/metrics`, { headers });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
};

const streamRequest = (gateway: TestGateway, key: string, extra: Record<string, unknown> = {}) =>
  fetch(`${gateway.url}/backend-api/codex/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [], stream: true, ...extra }),
  }).then(async (response) => ({ status: response.status, text: await response.text() }));

describe('/metrics content', () => {
  test('open mode exposes request, stream, failover and account metrics without ids', async () => {
    const seeded = await seedPool(open, upstream, 2);
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'status', status: 500, on: 'responses' });
    await sendUntilTried(upstream, seeded.accounts[0]!.accountId, () => streamRequest(open, seeded.key));
    const { status, contentType, text } = await scrape(open);
    expect(status).toBe(200);
    expect(contentType).toContain('text/plain; version=0.0.4');
    expect(text).toMatch(/codex_pooler_http_route_count\{route="\/backend-api\/codex\/responses",method="POST",status_class="2xx"\} [1-9]/);
    expect(text).toMatch(/codex_pooler_gateway_stream_outcome_count\{outcome="succeeded",downstream_transport="http_sse",upstream_transport="http_sse"\} [1-9]/);
    expect(text).toMatch(/codex_pooler_gateway_failover_count\{reason="upstream_5xx"\} 1/);
    expect(text).toMatch(/codex_pooler_upstream_accounts\{state="active"\} [1-9]/);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).not.toContain(seeded.accounts[0]!.accountId);
    expect(text).not.toContain(seeded.pool.id);
  });

  test('admission, routing decisions, upstream timing and quota windows are counted', async () => {
    const seeded = await seedPool(open, upstream, 1, 'counted');
    const before = (await scrape(open)).text;
    for (let i = 0; i < 3; i++) expect((await streamRequest(open, seeded.key)).status).toBe(200);
    expect((await streamRequest(open, seeded.key, { prompt_cache_key: 'metrics-affinity' })).status).toBe(200);
    const after = (await scrape(open)).text;
    const delta = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);

    expect(delta('codex_pooler_gateway_admission_accepted_count', { route_class: 'proxy_stream', transport: 'http_sse' })).toBe(4);
    // Every route class has its gauges, idle ones as 0 (spec acceptance 36).
    expect(after).toMatch(/^codex_pooler_gateway_admission_running\{route_class="proxy_http"\} 0$/m);
    expect(after).toMatch(/^codex_pooler_gateway_admission_queued\{route_class="proxy_stream"\} 0$/m);
    expect(delta('codex_pooler_gateway_routing_decision_count', { decision: 'ranked' })).toBe(3);
    expect(delta('codex_pooler_gateway_routing_decision_count', { decision: 'affinity' })).toBe(1);
    expect(delta('codex_pooler_upstream_first_byte_seconds_count', { route_class: 'proxy_stream' })).toBe(4);
    expect(delta('codex_pooler_upstream_request_duration_seconds_count', { route_class: 'proxy_stream', status_class: '2xx' })).toBe(4);
    expect(delta('codex_pooler_gateway_stream_finalization_count', { usage_status: 'usage_known' })).toBe(4);
    expect(sample(after, 'codex_pooler_gateway_active_streams', { transport: 'http_sse' })).toBe(0);
    // The import primed the account's usage: its primary and weekly windows are in a band.
    expect(total(after, 'codex_pooler_quota_windows', { window: 'primary' })).toBeGreaterThan(0);
    expect(total(after, 'codex_pooler_quota_windows', { window: 'secondary' })).toBeGreaterThan(0);
    expect(after).toContain('# TYPE codex_pooler_gateway_active_websockets gauge');
  });

  test('a usage-limit 429 puts the account in cooldown; repeated failures open its circuit', async () => {
    const seeded = await seedPool(open, upstream, 2, 'cooldown');
    const limited = seeded.accounts[0]!;
    const before = (await scrape(open)).text;
    const resetsAt = Math.floor(Date.now() / 1000) + 600;
    upstream.script(limited.accountId, { kind: 'status', status: 429, body: { error: { type: 'usage_limit_reached', code: 'usage_limit_reached', message: 'limit', resets_at: resetsAt } }, on: 'responses' });
    await sendUntilTried(upstream, limited.accountId, () => streamRequest(open, seeded.key));
    let after = (await scrape(open)).text;
    expect(total(after, 'codex_pooler_gateway_cooldown_count', { reason: 'usage_limit_reached' }) - total(before, 'codex_pooler_gateway_cooldown_count', { reason: 'usage_limit_reached' })).toBe(1);
    expect(total(after, 'codex_pooler_upstream_accounts', { state: 'cooling_down' })).toBeGreaterThanOrEqual(1);

    // A pool of one: three upstream failures in a row open the circuit (spec A8).
    const single = await seedPool(open, upstream, 1, 'circuit');
    for (let i = 0; i < 3; i++) upstream.script(single.accounts[0]!.accountId, { kind: 'status', status: 500, on: 'responses' });
    for (let i = 0; i < 3; i++) expect((await streamRequest(open, single.key)).status).toBe(500);
    expect((await streamRequest(open, single.key)).status).toBe(503);
    after = (await scrape(open)).text;
    expect(total(after, 'codex_pooler_gateway_routing_circuit_transition_count', { transition: 'closed_to_open', route_class: 'proxy_stream' }) - total(before, 'codex_pooler_gateway_routing_circuit_transition_count', { transition: 'closed_to_open', route_class: 'proxy_stream' })).toBe(1);
    expect(total(after, 'codex_pooler_gateway_routing_decision_count', { decision: 'no_eligible_account' }) - total(before, 'codex_pooler_gateway_routing_decision_count', { decision: 'no_eligible_account' })).toBe(1);
  });

  test('job runs are counted by job and outcome', async () => {
    const handle = await openDatabase({ kind: 'postgres', url: inject('databaseUrl'), poolSize: 2, ipv6: false }, { onError: () => {} });
    const metrics = createMetrics({ defaultMetrics: false });
    let resolveRuns!: () => void;
    const twoRuns = new Promise<void>((resolve) => (resolveRuns = resolve));
    let runs = 0;
    const runner = await startJobRunner({
      db: handle.db,
      jobDatabase: handle.jobDatabase,
      embedded: false,
      role: { consume: true, schedule: false },
      definitions: [
        {
          name: 'metrics-test-job',
          expireInSeconds: 60,
          retryLimit: 0,
          async run(_context, data) {
            if (data.fail) throw new Error('scripted job failure');
          },
        },
      ],
      log: pino({ level: 'silent' }),
      queueLimit: 1,
      onOutcome: (job, outcome, seconds) => {
        metrics.jobOutcomeCount.inc({ job, outcome });
        metrics.jobDuration.observe({ job }, seconds);
        if (++runs === 2) resolveRuns();
      },
    });
    try {
      await runner.enqueue('metrics-test-job', {});
      await runner.enqueue('metrics-test-job', { fail: true });
      await twoRuns;
      const text = await metrics.registry.metrics();
      expect(sample(text, 'codex_pooler_job_outcome_count', { job: 'metrics-test-job', outcome: 'succeeded' })).toBe(1);
      expect(sample(text, 'codex_pooler_job_outcome_count', { job: 'metrics-test-job', outcome: 'failed' })).toBe(1);
      expect(sample(text, 'codex_pooler_job_duration_seconds_count', { job: 'metrics-test-job' })).toBe(2);
    } finally {
      await runner.stop(1000);
      await handle.close();
    }
  }, 30_000);
});

describe('/metrics exposure modes', () => {
  const refused = (text: string) => {
    // Nothing but the refusal: no metric name, help text or value leaks.
    expect(text).not.toMatch(/codex_pooler|process_|nodejs_|# HELP|# TYPE/);
  };

  test('bearer from CODEX_POOLER_METRICS_TOKEN: a missing or wrong token is 401 and reveals nothing', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'scrape-token-123' }, { authorization: 'Bearer scrape-token-1234' }, { authorization: 'Basic c2NyYXBlLXRva2VuLTEyMw==' }] as Record<string, string>[]) {
      const response = await scrape(protectedGateway, headers);
      expect(response.status).toBe(401);
      expect(JSON.parse(response.text)).toEqual({ error: { code: 'metrics_unauthorized', message: 'metrics bearer token is required' } });
      refused(response.text);
    }
    const ok = await scrape(protectedGateway, { authorization: 'Bearer scrape-token-123' });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('codex_pooler_http_request_count');
  });

  describe('bearer stored in instance settings', () => {
    let database: ScratchDatabase;
    let gateway: TestGateway;
    let admin: pg.Client;

    beforeAll(async () => {
      database = await createScratchDatabase('metrics');
      const handle = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, ipv6: false }, { onError: () => {} });
      try {
        await migrateAndImportPricing(handle.db, pino({ level: 'silent' }));
      } finally {
        await handle.close();
      }
      gateway = await startGateway({ databaseUrl: database.url, upstream });
      admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
    }, 60_000);
    afterAll(async () => {
      await admin?.end();
      await gateway?.close();
      await database?.drop();
    });

    // The settings row made unreadable for this process (what a cold node with a broken database sees).
    const hideSettings = () => admin.query('ALTER TABLE instance_settings RENAME TO instance_settings_hidden');
    const restoreSettings = () => admin.query('ALTER TABLE instance_settings_hidden RENAME TO instance_settings');
    const deps = () => ({ db: gateway.services.db, keyring: gateway.config.upstreamKeyring });

    test('settings unreadable before any read: 401 "unavailable", /healthz still 200; readable again: open', async () => {
      await hideSettings();
      try {
        const response = await scrape(gateway);
        expect(response.status).toBe(401);
        expect(JSON.parse(response.text)).toEqual({ error: { code: 'metrics_unauthorized', message: 'metrics bearer token is unavailable' } });
        refused(response.text);
        // A token does not help when the process cannot check it.
        expect((await scrape(gateway, { authorization: 'Bearer anything-at-all-here' })).status).toBe(401);
        expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
      } finally {
        await restoreSettings();
      }
      expect((await scrape(gateway)).status).toBe(200);
    });

    test('set, rotate and clear: the old token dies at once; only digest, fingerprint and key version are stored', async () => {
      const first = 'first-metrics-token-0123456789';
      const second = 'second-metrics-token-9876543210';
      await expect(setMetricsBearer(deps(), systemScope(), 'short')).rejects.toMatchObject({ code: 'invalid_request', param: 'token' });
      expect((await scrape(gateway)).status).toBe(200);

      const set = await setMetricsBearer(deps(), systemScope(), first);
      expect(set).toEqual({ state: 'configured', fingerprint: expect.stringMatching(/^sha256:[A-Za-z0-9_-]{12}$/) });
      for (const headers of [{}, { authorization: 'Bearer wrong-token-but-long-enough' }] as Record<string, string>[]) {
        const response = await scrape(gateway, headers);
        expect(response.status).toBe(401);
        expect(JSON.parse(response.text)).toEqual({ error: { code: 'metrics_unauthorized', message: 'metrics bearer token is required' } });
        refused(response.text);
      }
      expect((await scrape(gateway, { authorization: `Bearer ${first}` })).status).toBe(200);
      const stored = JSON.stringify((await admin.query('select settings from instance_settings')).rows[0]);
      expect(stored).not.toContain(first);
      expect(await readMetricsBearer(gateway.services.db)).toEqual({ bearer_digest: expect.any(String), bearer_fingerprint: set.fingerprint, bearer_key_version: gateway.config.upstreamKeyring.currentVersion, bearer_set_at: expect.any(String) });
      const audit = await admin.query(`select details from audit_events where action = 'instance_settings.update' order by occurred_at desc limit 1`);
      expect(audit.rows[0].details.credential_changes).toEqual({ metrics_auth_state: 'configured', metrics_fingerprint: set.fingerprint });
      expect(JSON.stringify(audit.rows)).not.toContain(first);

      await setMetricsBearer(deps(), systemScope(), second);
      expect((await scrape(gateway, { authorization: `Bearer ${first}` })).status).toBe(401);
      expect((await scrape(gateway, { authorization: `Bearer ${second}` })).status).toBe(200);

      // Saving other settings keeps the write-only bearer.
      const current = await getInstanceSettings(gateway.services.db, systemScope());
      await updateInstanceSettings(gateway.services.db, systemScope(), { lock_version: current.lock_version, settings: { mcp: { enabled: !current.settings.mcp.enabled } } });
      expect((await scrape(gateway)).status).toBe(401);
      expect((await scrape(gateway, { authorization: `Bearer ${second}` })).status).toBe(200);

      // A warm process whose settings read fails keeps its last good answer: still protected, not open.
      await hideSettings();
      try {
        expect((await scrape(gateway)).status).toBe(401);
        expect((await scrape(gateway, { authorization: `Bearer ${second}` })).status).toBe(200);
      } finally {
        await restoreSettings();
      }

      expect(await setMetricsBearer(deps(), systemScope(), null)).toEqual({ state: 'cleared', fingerprint: null });
      expect((await scrape(gateway)).status).toBe(200);
      expect(await setMetricsBearer(deps(), systemScope(), null)).toEqual({ state: 'unchanged_unset', fingerprint: null });
    });

    test('`codex-pooler metrics set-token` / `clear-token` from the shell', async () => {
      const env = poolerEnv({ DATABASE_URL: database.url, ...TEST_SECRETS });
      const generated = await runPooler(['metrics', 'set-token', '--generate'], { env });
      expect(generated.code, generated.stderr).toBe(0);
      const [notice, token] = generated.stdout.trimEnd().split('\n');
      expect(notice).toMatch(/^\/metrics now needs "Authorization: Bearer <token>" \(fingerprint sha256:[A-Za-z0-9_-]{12}\)/);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect((await scrape(gateway)).status).toBe(401);
      expect((await scrape(gateway, { authorization: `Bearer ${token!}` })).status).toBe(200);

      const piped = await runPooler(['metrics', 'set-token'], { env, input: 'piped-metrics-token-abcdef\n' });
      expect(piped.code, piped.stderr).toBe(0);
      expect(piped.stdout).not.toContain('piped-metrics-token-abcdef');
      expect((await scrape(gateway, { authorization: `Bearer ${token!}` })).status).toBe(401);
      expect((await scrape(gateway, { authorization: 'Bearer piped-metrics-token-abcdef' })).status).toBe(200);

      const bad = await runPooler(['metrics', 'set-token'], { env, input: 'short\n' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/16 to 512 printable characters/);
      expect((await scrape(gateway, { authorization: 'Bearer piped-metrics-token-abcdef' })).status).toBe(200);

      const cleared = await runPooler(['metrics', 'clear-token'], { env });
      expect(cleared).toMatchObject({ code: 0, stdout: '/metrics bearer token removed; /metrics is open\n' });
      expect((await scrape(gateway)).status).toBe(200);
    }, 60_000);
  });
});
