import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readMetricsBearer } from '../../src/metrics/index.ts';
import { AdminClient, bootstrapOwnerClient, startAdminHarness, uniqueEmail, type AdminHarness } from '../support/admin.ts';

/** /metrics through the same app the admin API runs in. */
const scrape = async (harness: AdminHarness, token?: string) => {
  const response = await harness.app.inject({ method: 'GET', url: '/metrics', headers: token ? { authorization: `Bearer ${token}` } : {} });
  return response.statusCode;
};

const settingsRow = (harness: AdminHarness) => harness.db.selectFrom('instance_settings').select(['settings', 'lock_version']).executeTakeFirst();
const auditCount = async (harness: AdminHarness) => Number((await harness.db.selectFrom('audit_events').select(harness.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
const metricsAudit = (harness: AdminHarness) =>
  harness.db.selectFrom('audit_events').selectAll().where('action', '=', 'instance_settings.update').where('target_type', '=', 'instance_settings').orderBy('occurred_at').execute();

describe('/api/admin/settings/metrics with a stored token', () => {
  let harness: AdminHarness;
  let owner: AdminClient;
  let admin: AdminClient;
  let ownerId: string;

  beforeAll(async () => {
    harness = await startAdminHarness();
    owner = await bootstrapOwnerClient(harness);
    ownerId = (await owner.get('/session')).body.user.id;
    const email = uniqueEmail('metrics-admin');
    const created = await owner.post('/operators', { email, role: 'instance_admin', pool_ids: [], password: 'admin password 1', password_change_required: false });
    expect(created.status, created.raw).toBe(201);
    admin = new AdminClient(harness.app);
    expect((await admin.login(email, 'admin password 1')).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await harness?.close();
  });

  test('open until the owner generates a token; the token is answered once, the digest never', async () => {
    expect(await owner.get('/settings/metrics')).toMatchObject({ status: 200, body: { mode: 'open' } });
    expect(await scrape(harness)).toBe(200);

    const generated = await owner.post('/settings/metrics/token', { generate: true });
    expect(generated.status, generated.raw).toBe(200);
    expect(generated.body).toEqual({ mode: 'bearer_stored', fingerprint: expect.stringMatching(/^sha256:[A-Za-z0-9_-]{12}$/), set_at: expect.any(String), token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(Date.now() - Date.parse(generated.body.set_at)).toBeLessThan(60_000);
    const token: string = generated.body.token;

    expect(await scrape(harness)).toBe(401);
    expect(await scrape(harness, 'not-the-token-but-long-enough')).toBe(401);
    expect(await scrape(harness, token)).toBe(200);

    const status = await owner.get('/settings/metrics');
    expect(status.body).toEqual({ mode: 'bearer_stored', fingerprint: generated.body.fingerprint, set_at: generated.body.set_at });
    expect(status.raw).not.toContain(token);
    // Neither the digest nor the token leaks through any answer, the settings document or the logs.
    const stored = (await readMetricsBearer(harness.db))!;
    expect(stored.bearer_fingerprint).toBe(generated.body.fingerprint);
    for (const raw of [...owner.seen, ...admin.seen]) expect(raw).not.toContain(stored.bearer_digest);
    const settings = await owner.get('/settings');
    expect(settings.status).toBe(200);
    expect(settings.raw).not.toContain(stored.bearer_digest);
    expect(settings.raw).not.toContain('bearer');
    expect(harness.logs.join('\n')).not.toContain(token);
  });

  test('an owner-supplied token is never echoed and replaces the previous one at once', async () => {
    const previous = (await readMetricsBearer(harness.db))!;
    const brought = 'owner-brought-metrics-token-0123456789';
    const response = await owner.post('/settings/metrics/token', { token: brought });
    expect(response.status, response.raw).toBe(200);
    expect(response.body).toEqual({ mode: 'bearer_stored', fingerprint: expect.stringMatching(/^sha256:/), set_at: expect.any(String) });
    expect(response.body.fingerprint).not.toBe(previous.bearer_fingerprint);
    expect(response.raw).not.toContain(brought);
    expect(await scrape(harness, brought)).toBe(200);
    expect(await scrape(harness)).toBe(401);
  });

  test('bad input and a missing CSRF header are refused and change nothing', async () => {
    const before = await settingsRow(harness);
    const audits = await auditCount(harness);
    const cases: [unknown, string | null][] = [
      [{}, null],
      [{ generate: false }, 'generate'],
      [{ token: 'too-short-token' }, 'token'],
      [{ token: 'x'.repeat(30), generate: true }, null],
      [{ generate: true, extra: 1 }, null],
    ];
    for (const [body, param] of cases) {
      const response = await owner.post('/settings/metrics/token', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error, JSON.stringify(body)).toMatchObject({ code: 'invalid_request', ...(param ? { param } : {}) });
    }
    expect((await owner.post('/settings/metrics/token', { token: 'a token with spaces in it, long enough' })).body.error).toMatchObject({ code: 'invalid_request', param: 'token' });
    for (const method of ['POST', 'DELETE'] as const) {
      const response = await owner.call(method, '/settings/metrics/token', method === 'POST' ? { generate: true } : undefined, { csrf: false });
      expect(response.status, method).toBe(403);
      expect(response.body.error.code, method).toBe('csrf_invalid');
    }
    expect(await settingsRow(harness)).toEqual(before);
    expect(await auditCount(harness)).toBe(audits);
  });

  test('an instance admin gets 403 on every metrics route and changes nothing', async () => {
    const before = await settingsRow(harness);
    const audits = await auditCount(harness);
    for (const response of [
      await admin.get('/settings/metrics'),
      await admin.post('/settings/metrics/token', { generate: true }),
      await admin.post('/settings/metrics/token', { token: 'instance-admin-token-0123456789' }),
      await admin.call('DELETE', '/settings/metrics/token'),
    ]) {
      expect(response.status, response.raw).toBe(403);
      expect(response.body.error.code).toBe('capability_denied');
      expect(response.raw).not.toContain('sha256:');
      expect(response.raw).not.toMatch(/"token"/);
    }
    expect(await settingsRow(harness)).toEqual(before);
    expect(await auditCount(harness)).toBe(audits);
    expect(await scrape(harness)).toBe(401);
  });

  test('delete makes /metrics open again; the changes are audited without any token', async () => {
    const removed = await owner.call('DELETE', '/settings/metrics/token');
    expect(removed.status, removed.raw).toBe(200);
    expect(removed.body).toEqual({ mode: 'open' });
    expect(await scrape(harness)).toBe(200);
    expect(await readMetricsBearer(harness.db)).toBeNull();
    expect((await owner.get('/settings/metrics')).body).toEqual({ mode: 'open' });
    // Removing again is a no-op: still open, nothing audited.
    const audits = await auditCount(harness);
    expect((await owner.call('DELETE', '/settings/metrics/token')).body).toEqual({ mode: 'open' });
    expect(await auditCount(harness)).toBe(audits);

    const rows = await metricsAudit(harness);
    expect(rows.map((r) => (r.details as { credential_changes: { metrics_auth_state: string } }).credential_changes.metrics_auth_state)).toEqual(['configured', 'configured', 'cleared']);
    for (const row of rows) {
      expect(row).toMatchObject({ actor_type: 'user', actor_user_id: ownerId, target_id: 'singleton' });
      expect(row.details).toMatchObject({ changed_categories: ['metrics'], changed_keys: ['metrics.bearer'] });
    }
    const text = JSON.stringify(rows);
    expect(text).not.toContain('owner-brought-metrics-token');
    expect(text).not.toMatch(/bearer_digest|"token"/);
  });
});

describe('/api/admin/settings/metrics while CODEX_POOLER_METRICS_TOKEN is set', () => {
  const envToken = 'env-metrics-token-abcdefghijklmnop';
  let harness: AdminHarness;
  let owner: AdminClient;

  beforeAll(async () => {
    harness = await startAdminHarness({ env: { CODEX_POOLER_METRICS_TOKEN: envToken } });
    owner = await bootstrapOwnerClient(harness);
  }, 60_000);
  afterAll(async () => {
    await harness?.close();
  });

  test('the mode is bearer_env and changing the stored token is a clear 409 that changes nothing', async () => {
    const status = await owner.get('/settings/metrics');
    expect(status).toMatchObject({ status: 200, body: { mode: 'bearer_env' } });
    expect(status.raw).not.toContain(envToken);
    const before = await settingsRow(harness);
    const audits = await auditCount(harness);
    for (const response of [await owner.post('/settings/metrics/token', { generate: true }), await owner.call('DELETE', '/settings/metrics/token')]) {
      expect(response.status, response.raw).toBe(409);
      expect(response.body.error).toMatchObject({ code: 'metrics_token_from_env', message: expect.stringContaining('CODEX_POOLER_METRICS_TOKEN') });
    }
    expect(await settingsRow(harness)).toEqual(before);
    expect(await auditCount(harness)).toBe(audits);
    expect(await scrape(harness)).toBe(401);
    expect(await scrape(harness, envToken)).toBe(200);
  });
});
