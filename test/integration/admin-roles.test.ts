import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { AdminClient, bootstrapOwnerClient, startAdminHarness, uniqueEmail, type AdminHarness } from '../support/admin.ts';

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let admin: AdminClient;
let adminId: string;
const pools: Record<'a' | 'b', { id: string; slug: string; accountId: string; keyId: string }> = {} as never;

const denied = { error: expect.objectContaining({ code: 'capability_denied' }) };

async function authJson() {
  const accountId = `acct-${randomBytes(5).toString('hex')}`;
  const account = await upstream.addAccount({ accountId, email: `${accountId}@example.com` });
  return JSON.stringify(account.authJson);
}

async function seedPool(label: 'a' | 'b') {
  const pool = await owner.post('/pools', { name: `Roles ${label} ${randomBytes(2).toString('hex')}` });
  expect(pool.status).toBe(201);
  const imported = await owner.post('/accounts/import', { pool_id: pool.body.pool.id, auth_json: await authJson() });
  expect(imported.status).toBe(201);
  const key = await owner.post('/api-keys', { pool_id: pool.body.pool.id, label: `key ${label}` });
  expect(key.status).toBe(201);
  await harness.db
    .insertInto('requests')
    .values({ pool_id: pool.body.pool.id, api_key_id: key.body.api_key.id, endpoint: '/backend-api/codex/responses', transport: 'http_sse', status: 'succeeded', correlation_id: randomUUID(), admitted_at: new Date(), completed_at: new Date(), response_status_code: 200, model_id: 'gpt-5', total_tokens: 10 } as never)
    .execute();
  pools[label] = { id: pool.body.pool.id, slug: pool.body.pool.slug, accountId: imported.body.account.id, keyId: key.body.api_key.id };
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream });
  owner = await bootstrapOwnerClient(harness);
  await seedPool('a');
  await seedPool('b');
  const email = uniqueEmail('admin');
  const created = await owner.post('/operators', { email, role: 'instance_admin', pool_ids: [pools.a.id], password: 'admin password 1', password_change_required: false });
  expect(created.body.operator.pool_ids).toEqual([pools.a.id]);
  adminId = created.body.operator.id;
  admin = new AdminClient(harness.app);
  expect((await admin.login(email, 'admin password 1')).body.auth).toMatchObject({ roles: ['instance_admin'], pool_ids: [pools.a.id], permissions: { 'pool.manage': false } });
});
afterAll(async () => {
  await harness?.close();
  await upstream?.close();
});

describe('instance admin assigned to pool A', () => {
  test('sees only pool A in every list', async () => {
    expect((await admin.get('/pools')).body.items.map((p: { id: string }) => p.id)).toEqual([pools.a.id]);
    expect((await admin.get('/accounts')).body.items.map((a: { pool_id: string }) => a.pool_id)).toEqual([pools.a.id]);
    expect((await admin.get('/api-keys')).body.items.map((k: { pool_id: string }) => k.pool_id)).toEqual([pools.a.id]);
    expect((await admin.get('/request-logs')).body.items.map((r: { pool_id: string }) => r.pool_id)).toEqual([pools.a.id]);
    expect((await admin.get('/usage?group_by=api_key')).body.rows.map((r: { key: string }) => r.key)).toEqual([pools.a.keyId]);
    const audit = (await admin.get('/audit')).body.items as Array<{ pool_id: string | null }>;
    expect(audit.length).toBeGreaterThan(0);
    expect(new Set(audit.map((e) => e.pool_id))).toEqual(new Set([pools.a.id]));
  });

  test('reading pool B is 403 capability_denied', async () => {
    for (const url of [`/pools/${pools.b.id}`, `/accounts?pool_id=${pools.b.id}`, `/accounts/${pools.b.accountId}`, `/api-keys?pool_id=${pools.b.id}`, `/request-logs?pool_id=${pools.b.id}`, `/usage?pool_id=${pools.b.id}`, `/audit?pool_id=${pools.b.id}`]) {
      const response = await admin.get(url);
      expect(response.status, url).toBe(403);
      expect(response.body, url).toEqual(denied);
    }
  });

  test('changing pool B is refused and changes nothing', async () => {
    const keysBefore = await harness.db.selectFrom('api_keys').select(['id', 'status']).where('pool_id', '=', pools.b.id).execute();
    const auditBefore = await harness.db.selectFrom('audit_events').select(harness.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const attempts = [
      await admin.post('/api-keys', { pool_id: pools.b.id, label: 'sneaky' }),
      await admin.post(`/api-keys/${pools.b.keyId}/revoke`),
      await admin.post('/accounts/import', { pool_id: pools.b.id, auth_json: await authJson() }),
      await admin.post(`/accounts/${pools.b.accountId}/disable`),
      await admin.call('DELETE', `/accounts/${pools.b.accountId}`),
    ];
    for (const response of attempts) {
      expect(response.status).toBe(403);
      expect(response.body).toEqual(denied);
    }
    expect(await harness.db.selectFrom('api_keys').select(['id', 'status']).where('pool_id', '=', pools.b.id).execute()).toEqual(keysBefore);
    const account = await owner.get(`/accounts/${pools.b.accountId}`);
    expect(account.body.account.state).toBe('active');
    expect(await harness.db.selectFrom('pool_upstream_assignments').select('id').where('pool_id', '=', pools.b.id).execute()).toHaveLength(1);
    expect((await harness.db.selectFrom('audit_events').select(harness.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n).toBe(auditBefore.n);
  });

  test('operates pool A: keys, accounts (audited with actor, IP and target)', async () => {
    const key = await admin.post('/api-keys', { pool_id: pools.a.id, label: 'admin key' });
    expect(key.status).toBe(201);
    expect(key.body.key).toMatch(/^sk-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    expect((await admin.post(`/api-keys/${key.body.api_key.id}/revoke`)).body.api_key.status).toBe('revoked');
    expect((await admin.post(`/accounts/${pools.a.accountId}/disable`)).body.account.state).toBe('disabled');
    expect((await admin.post(`/accounts/${pools.a.accountId}/enable`)).body.account.state).toBe('active');
    const entry = await harness.db.selectFrom('audit_events').selectAll().where('action', '=', 'api_key.create').where('actor_user_id', '=', adminId).executeTakeFirstOrThrow();
    expect(entry).toMatchObject({ actor_type: 'user', pool_id: pools.a.id, target_type: 'api_key', target_id: key.body.api_key.id, ip_address: admin.ip });
    expect(entry.correlation_id).toBeTruthy();
  });

  test('owner-only areas are 403 and change nothing', async () => {
    const poolCount = (await harness.db.selectFrom('pools').select('id').execute()).length;
    for (const response of [
      await admin.post('/pools', { name: 'admin pool' }),
      await admin.call('PATCH', `/pools/${pools.a.id}`, { status: 'archived' }),
      await admin.call('PATCH', `/pools/${pools.a.id}`, { name: 'renamed' }),
      await admin.call('DELETE', `/pools/${pools.a.id}`, { confirm: pools.a.slug }),
      await admin.get('/operators'),
      await admin.post('/operators', { email: uniqueEmail('x'), role: 'instance_owner' }),
      await admin.call('PATCH', `/operators/${adminId}`, { role: 'instance_owner' }),
      await admin.get('/settings'),
      await admin.call('PUT', '/settings', { lock_version: 1, settings: { mcp: { enabled: true } } }),
    ]) {
      expect(response.status).toBe(403);
      expect(response.body).toEqual(denied);
    }
    expect((await harness.db.selectFrom('pools').select('id').execute()).length).toBe(poolCount);
    expect((await owner.get(`/pools/${pools.a.id}`)).body.pool).toMatchObject({ status: 'active', name: expect.stringMatching(/^Roles a/) });
    expect((await owner.get(`/operators/${adminId}`)).body.operator.role).toBe('instance_admin');
  });

  test('own profile, password and TOTP stay open to an admin', async () => {
    expect((await admin.get('/me')).body.user).toMatchObject({ role: 'instance_admin' });
    expect((await admin.get('/me/totp')).body.status).toBe('disabled');
    expect((await admin.get('/me/sessions')).body.items[0]).toMatchObject({ current: true });
  });
});

describe('owner', () => {
  test('a disabled pool can be read but not operated (pool_not_found); archiving revokes admin assignments', async () => {
    const pool = await owner.post('/pools', { name: `Lifecycle ${randomBytes(2).toString('hex')}` });
    const id = pool.body.pool.id;
    await owner.call('PATCH', `/operators/${adminId}`, { pool_ids: [pools.a.id, id] });
    expect((await owner.call('PATCH', `/pools/${id}`, { status: 'disabled' })).body.pool.status).toBe('disabled');
    expect((await owner.post('/api-keys', { pool_id: id })).body).toEqual({ error: expect.objectContaining({ code: 'pool_not_found' }) });
    expect((await admin.get(`/pools/${id}`)).status).toBe(200);
    expect((await admin.post('/api-keys', { pool_id: id })).status).toBe(404);
    expect((await owner.call('DELETE', `/pools/${id}`, { confirm: pool.body.pool.slug })).body).toEqual({ error: expect.objectContaining({ code: 'pool_not_archived' }) });
    await owner.call('PATCH', `/pools/${id}`, { status: 'archived' });
    expect((await owner.get(`/operators/${adminId}`)).body.operator.pool_ids).toEqual([pools.a.id]);
    expect((await admin.get(`/pools/${id}`)).status).toBe(403);
    expect((await owner.call('DELETE', `/pools/${id}`, { confirm: 'wrong' })).body).toEqual({ error: expect.objectContaining({ code: 'confirmation_mismatch' }) });
    expect((await owner.call('DELETE', `/pools/${id}`, { confirm: pool.body.pool.slug })).status).toBe(200);
    const audits = await harness.db.selectFrom('audit_events').select(['action', 'pool_id']).where('target_id', '=', id).execute();
    expect(audits.map((a) => a.action)).toContain('pool.delete');
    expect(audits.every((a) => a.pool_id === null)).toBe(true);
  });

  test('the last active owner cannot be demoted or deactivated; with two owners it works and signs the target out', async () => {
    const me = (await owner.get('/session')).body.user.id as string;
    expect((await owner.call('PATCH', `/operators/${me}`, { role: 'instance_admin' })).body).toEqual({ error: expect.objectContaining({ code: 'last_active_owner' }) });
    const email = uniqueEmail('owner2');
    const second = await owner.post('/operators', { email, role: 'instance_owner', password: 'second owner pass', password_change_required: false });
    const secondClient = new AdminClient(harness.app);
    await secondClient.login(email, 'second owner pass');
    const demoted = await secondClient.call('PATCH', `/operators/${me}`, { role: 'instance_admin' });
    expect(demoted.body.operator.role).toBe('instance_admin');
    expect((await owner.get('/session')).status).toBe(401);
    expect((await secondClient.call('PATCH', `/operators/${second.body.operator.id}`, { role: 'instance_admin' })).body).toEqual({ error: expect.objectContaining({ code: 'last_active_owner' }) });
    // Restore the first owner for the remaining tests.
    await secondClient.call('PATCH', `/operators/${me}`, { role: 'instance_owner' });
    await owner.login('owner@example.com', 'owner password 1234');
    expect((await owner.get('/session')).body.auth.roles).toEqual(['instance_owner']);
  });

  test('instance settings: optimistic locking, validation, audit only when something changed', async () => {
    const current = await owner.get('/settings');
    expect(current.body.settings.ingress).toMatchObject({ forwarded_client_ip_source: 'x_forwarded_for', forwarded_proxy_depth: 0 });
    expect(current.body.settings.retention).toEqual({ request_logs_days: 30, audit_days: 365, finished_oauth_flows_days: 7 });
    const lock = current.body.lock_version;
    const invalid = await owner.call('PUT', '/settings', { lock_version: lock, settings: { ingress: { forwarded_client_ip_source: 'peer', forwarded_proxy_depth: 2 } } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.param).toBe('settings.ingress.forwarded_proxy_depth');
    const saved = await owner.call('PUT', '/settings', { lock_version: lock, settings: { mcp: { enabled: true }, retention: { request_logs_days: 14 } } });
    expect(saved.body.lock_version).toBe(lock + 1);
    expect(saved.body.settings.mcp.enabled).toBe(true);
    const stale = await owner.call('PUT', '/settings', { lock_version: lock, settings: { mcp: { enabled: false } } });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('stale_settings');
    const same = await owner.call('PUT', '/settings', { lock_version: lock + 1, settings: { mcp: { enabled: true } } });
    expect(same.body.lock_version).toBe(lock + 1);
    const audits = await harness.db.selectFrom('audit_events').select('details').where('action', '=', 'instance_settings.update').execute();
    expect(audits).toHaveLength(1);
    expect(audits[0]!.details).toMatchObject({ changed_keys: ['mcp.enabled', 'retention.request_logs_days'] });
  });

  test('owner sees global events in the audit log and can filter and page it', async () => {
    const auth = await owner.get('/audit?action=auth.&limit=2');
    expect(auth.body.items).toHaveLength(2);
    expect(auth.body.items.every((e: { action: string }) => e.action.startsWith('auth.'))).toBe(true);
    const next = await owner.get(`/audit?action=auth.&limit=2&cursor=${auth.body.next_cursor}`);
    expect(next.body.items[0].id).not.toBe(auth.body.items[0].id);
    expect(new Date(next.body.items[0].occurred_at) <= new Date(auth.body.items[1].occurred_at)).toBe(true);
    expect((await owner.get('/audit?cursor=garbage')).body.error.code).toBe('invalid_request');
    const failures = await owner.get('/audit?outcome=failure');
    expect(failures.status).toBe(200);
  });
});
