/**
 * A Pool API key's policies set through the admin API and the CLI (control-plane spec §6.2,
 * acceptance 28–30) and enforced by the real gateway against the fake upstream before anything goes
 * upstream: limits, model allow-list, enforced model, reasoning policy and service tier; invalid
 * policies change nothing; a pool-scoped admin cannot touch another pool's key; moving a key ends
 * its Observatory sessions.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { setDashboardAccess, signInWithKey } from '../../src/observatory/index.ts';
import { AdminClient, bootstrapOwnerClient, startAdminHarness, uniqueEmail, type AdminHarness } from '../support/admin.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { killAllPoolers, poolerEnv, runPooler, testSecrets } from '../support/processes.ts';

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let pool: { id: string; slug: string };
let otherPool: { id: string; slug: string };

type Minted = { key: string; api_key: { id: string; prefix: string } };

async function poolWithAccount(name: string): Promise<{ id: string; slug: string }> {
  const created = (await owner.post('/pools', { name: `${name} ${randomBytes(2).toString('hex')}` })).body.pool;
  const accountId = `acct-${randomBytes(5).toString('hex')}`;
  const added = await upstream.addAccount({ accountId, email: `${accountId}@example.com` });
  expect((await owner.post('/accounts/import', { pool_id: created.id, auth_json: JSON.stringify(added.authJson) })).status).toBe(201);
  return created;
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  owner = await bootstrapOwnerClient(harness);
  pool = await poolWithAccount('Policies');
  otherPool = await poolWithAccount('Elsewhere');
});
afterAll(async () => {
  await killAllPoolers();
  await harness?.close();
  await upstream?.close();
});

async function mint(label: string, poolId = pool.id): Promise<Minted> {
  const created = await owner.post('/api-keys', { pool_id: poolId, label });
  expect(created.status).toBe(201);
  return created.body;
}

type Sent = { status: number; code: string | null; param: string | null; upstreamBody: Record<string, unknown> | null };

/** One request through the gateway; answers the status, the error, and the body the upstream got (if any). */
async function send(key: string, extra: Record<string, unknown> = {}, surface: 'backend' | 'v1' | 'chat' = 'backend'): Promise<Sent> {
  const before = upstream.requestsTo('/backend-api/codex/responses').length;
  const path = surface === 'backend' ? '/backend-api/codex/responses' : surface === 'v1' ? '/v1/responses' : '/v1/chat/completions';
  const base = surface === 'chat'
    ? { model: 'gpt-5.4', messages: [{ role: 'user', content: 'hi' }] }
    : { model: 'gpt-5.4', instructions: 'be brief', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true };
  const response = await fetch(`${harness.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ ...base, ...extra }),
  });
  const text = await response.text();
  const sent = upstream.requestsTo('/backend-api/codex/responses');
  const upstreamBody = sent.length > before ? (sent.at(-1)!.body as Record<string, unknown>) : null;
  if (response.ok) return { status: response.status, code: null, param: null, upstreamBody };
  const error = (JSON.parse(text) as { error: { code: string; param?: string | null } }).error;
  return { status: response.status, code: error.code, param: error.param ?? null, upstreamBody };
}

const keyRow = (id: string) => harness.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const auditCount = async (id: string) => (await harness.db.selectFrom('audit_events').select('id').where('target_id', '=', id).execute()).length;

describe('limits through the admin API', () => {
  test('PUT sets the default and per-model limits, GET reads them back, the gateway refuses the request over the limit', async () => {
    const minted = await mint('limits');
    const id = minted.api_key.id;
    expect((await owner.get(`/api-keys/${id}/limits`)).body).toEqual({ default: null, models: [] });

    const put = await owner.call('PUT', `/api-keys/${id}/limits`, { default: { max_requests_per_minute: 1 }, models: [{ model: 'GPT-5.4-mini', max_requests_per_minute: 5, max_tokens_per_day: 1_000_000 }] });
    expect(put.status).toBe(200);
    const stored = (await owner.get(`/api-keys/${id}/limits`)).body;
    expect(stored).toEqual(put.body);
    expect(stored.default).toMatchObject({ max_requests_per_minute: 1, max_tokens_per_day: null });
    expect(stored.models).toEqual([expect.objectContaining({ model: 'gpt-5.4-mini', max_requests_per_minute: 5, max_tokens_per_day: 1_000_000 })]);
    const audit = await harness.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', id).where('action', '=', 'api_key.limits_update').execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.details).toMatchObject({ before: { default: null, models: [] }, after: { default: { max_requests_per_minute: 1 } } });

    expect((await send(minted.key)).status).toBe(200);
    const refused = await send(minted.key);
    expect(refused).toMatchObject({ status: 400, code: 'api_key_policy_limit_exceeded', param: 'max_requests_per_minute', upstreamBody: null });
    // The model's own binding applies to that model instead of the default.
    expect((await send(minted.key, { model: 'gpt-5.4-mini' })).status).toBe(200);

    // Invalid documents are refused and change nothing.
    for (const bad of [{ default: { max_requests_per_minute: 0 } }, { default: { rpm: 5 } }, { models: [{ model: 'a b', max_tokens_per_day: 1 }] }]) {
      const answer = await owner.call('PUT', `/api-keys/${id}/limits`, bad);
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('invalid_request');
    }
    expect((await owner.get(`/api-keys/${id}/limits`)).body).toEqual(stored);

    // Clearing everything lifts the limit at once.
    expect((await owner.call('PUT', `/api-keys/${id}/limits`, { default: null, models: [] })).body).toEqual({ default: null, models: [] });
    expect((await send(minted.key)).status).toBe(200);
  });
});

describe('model policy through PATCH', () => {
  test('selected models: other models are 403 model_not_allowed on both surfaces; deny_all refuses every model', async () => {
    const minted = await mint('selected');
    const patched = await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { model_mode: 'selected', allowed_models: [' GPT-5.4-mini '] });
    expect(patched.status).toBe(200);
    expect(patched.body.api_key).toMatchObject({ model_mode: 'selected', allowed_models: ['gpt-5.4-mini'] });
    expect(await send(minted.key)).toMatchObject({ status: 403, code: 'model_not_allowed', upstreamBody: null });
    expect(await send(minted.key, {}, 'v1')).toMatchObject({ status: 403, code: 'model_not_allowed', upstreamBody: null });
    expect((await send(minted.key, { model: 'gpt-5.4-mini' })).status).toBe(200);

    expect((await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { model_mode: 'deny_all' })).body.api_key).toMatchObject({ model_mode: 'deny_all', allowed_models: [] });
    expect((await keyRow(minted.api_key.id)).allowed_model_identifiers).toEqual([]);
    expect(await send(minted.key, { model: 'gpt-5.4-mini' })).toMatchObject({ status: 403, code: 'model_not_allowed' });

    expect((await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { model_mode: 'all' })).body.api_key.model_mode).toBe('all');
    expect((await send(minted.key)).status).toBe(200);
  });

  test('an enforced model replaces the requested one: the upstream receives the enforced model', async () => {
    const minted = await mint('enforced model');
    expect((await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { enforced_model: 'gpt-5.4-mini' })).body.api_key.enforced_model).toBe('gpt-5.4-mini');
    const sent = await send(minted.key, { model: 'gpt-5.4' });
    expect(sent.status).toBe(200);
    expect(sent.upstreamBody?.model).toBe('gpt-5.4-mini');
    const viaV1 = await send(minted.key, { model: 'gpt-5.3-codex' }, 'v1');
    expect(viaV1.status).toBe(200);
    expect(viaV1.upstreamBody?.model).toBe('gpt-5.4-mini');
  });

  test('reasoning: above the maximum is 400 reasoning_effort_not_allowed; an always-effort and a service tier are set upstream', async () => {
    const minted = await mint('reasoning');
    const id = minted.api_key.id;
    expect((await owner.call('PATCH', `/api-keys/${id}`, { maximum_reasoning_effort: 'medium' })).body.api_key.maximum_reasoning_effort).toBe('medium');
    expect(await send(minted.key, { reasoning: { effort: 'high' } })).toMatchObject({ status: 400, code: 'reasoning_effort_not_allowed', param: 'reasoning.effort', upstreamBody: null });
    expect(await send(minted.key, { reasoning_effort: 'high' }, 'chat')).toMatchObject({ status: 400, code: 'reasoning_effort_not_allowed', param: 'reasoning_effort', upstreamBody: null });
    const allowed = await send(minted.key, { reasoning: { effort: 'low' } });
    expect(allowed.status).toBe(200);
    expect(allowed.upstreamBody?.reasoning).toMatchObject({ effort: 'low' });

    const switched = await owner.call('PATCH', `/api-keys/${id}`, { maximum_reasoning_effort: null, enforced_reasoning_effort: 'high', service_tier: 'flex' });
    expect(switched.body.api_key).toMatchObject({ maximum_reasoning_effort: null, enforced_reasoning_effort: 'high', service_tier: 'flex' });
    const enforced = await send(minted.key, { reasoning: { effort: 'low' }, service_tier: 'priority' });
    expect(enforced.status).toBe(200);
    expect(enforced.upstreamBody).toMatchObject({ reasoning: { effort: 'high' }, service_tier: 'flex' });
    const audit = await harness.db.selectFrom('audit_events').select('details').where('target_id', '=', id).where('action', '=', 'api_key.update').orderBy('occurred_at', 'desc').executeTakeFirstOrThrow();
    expect((audit.details as { changed_fields: string[] }).changed_fields).toEqual(['maximum_reasoning_effort', 'enforced_reasoning_effort', 'service_tier']);
  });

  test('invalid_policy: both efforts, an enforced model outside the selected list, an empty selection; nothing changes', async () => {
    const minted = await mint('invalid');
    const id = minted.api_key.id;
    expect((await owner.call('PATCH', `/api-keys/${id}`, { model_mode: 'selected', allowed_models: ['gpt-5.4'], maximum_reasoning_effort: 'high' })).status).toBe(200);
    const before = await keyRow(id);
    const audits = await auditCount(id);
    for (const [body, param] of [
      [{ enforced_reasoning_effort: 'low' }, 'enforced_reasoning_effort'],
      [{ enforced_model: 'gpt-5.4-mini' }, 'enforced_model'],
      [{ model_mode: 'selected', allowed_models: [] }, 'allowed_models'],
      [{ label: 'renamed too', enforced_reasoning_effort: 'low' }, 'enforced_reasoning_effort'],
    ] as const) {
      const answer = await owner.call('PATCH', `/api-keys/${id}`, body);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'invalid_policy', param });
    }
    const badValue = await owner.call('PATCH', `/api-keys/${id}`, { maximum_reasoning_effort: 'extreme' });
    expect(badValue.body.error).toMatchObject({ code: 'invalid_request', param: 'maximum_reasoning_effort' });
    expect(await keyRow(id)).toEqual(before);
    expect(await auditCount(id)).toBe(audits);
  });
});

describe('pools and permissions', () => {
  test("a pool-scoped admin is refused on another pool's key (403, nothing changes) and cannot move a key there", async () => {
    const email = uniqueEmail('policy-admin');
    await owner.post('/operators', { email, role: 'instance_admin', pool_ids: [pool.id], password: 'admin password 1', password_change_required: false });
    const admin = new AdminClient(harness.app);
    expect((await admin.login(email, 'admin password 1')).status).toBe(200);
    const own = await mint('admin own');
    const foreign = await mint('foreign', otherPool.id);
    const before = await keyRow(foreign.api_key.id);
    for (const attempt of [
      () => admin.call('PATCH', `/api-keys/${foreign.api_key.id}`, { model_mode: 'deny_all' }),
      () => admin.call('PUT', `/api-keys/${foreign.api_key.id}/limits`, { default: { max_requests_per_minute: 1 } }),
      () => admin.get(`/api-keys/${foreign.api_key.id}/limits`),
      () => admin.call('PATCH', `/api-keys/${own.api_key.id}`, { pool_id: otherPool.id }),
      () => admin.get(`/pools/${otherPool.id}/models`),
    ]) {
      const refused = await attempt();
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual({ error: expect.objectContaining({ code: 'capability_denied' }) });
    }
    expect(await keyRow(foreign.api_key.id)).toEqual(before);
    expect((await keyRow(own.api_key.id)).pool_id).toBe(pool.id);
    expect((await owner.get(`/api-keys/${foreign.api_key.id}/limits`)).body).toEqual({ default: null, models: [] });
    // Its own pool's key and catalog are fine.
    expect((await admin.call('PUT', `/api-keys/${own.api_key.id}/limits`, { default: { max_tokens_per_day: 500_000 } })).status).toBe(200);
    const models = await admin.get(`/pools/${pool.id}/models`);
    expect(models.status).toBe(200);
    expect(models.body.items.map((m: { id: string }) => m.id)).toEqual(expect.arrayContaining(['gpt-5.4', 'gpt-5.4-mini']));
  });

  test('moving a key to another pool: it serves from there and its Observatory sessions end', async () => {
    const minted = await mint('mover');
    const deps = { db: harness.db, notifier: harness.services.notifier };
    await setDashboardAccess(deps, cliActor(), minted.api_key.prefix, true);
    await signInWithKey(harness.db, minted.key);
    const sessions = () => harness.db.selectFrom('api_key_dashboard_sessions').select('id').where('api_key_id', '=', minted.api_key.id).execute();
    expect(await sessions()).toHaveLength(1);
    const moved = await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { pool_id: otherPool.id });
    expect(moved.status).toBe(200);
    expect(moved.body.api_key.pool_id).toBe(otherPool.id);
    expect(await sessions()).toHaveLength(0);
    const sent = await send(minted.key);
    expect(sent.status).toBe(200);
    await harness.services.requestLog.flush();
    const served = await harness.db.selectFrom('requests').select('pool_id').where('api_key_id', '=', minted.api_key.id).execute();
    expect(served.map((r) => r.pool_id)).toEqual([otherPool.id]);
  });
});

describe('command line', () => {
  test('keys update sets the model policy; keys limits shows, sets, clears and removes limits; bad input exits 1 or 2', async () => {
    const minted = await mint('cli policy');
    const env = poolerEnv({ DATABASE_URL: (harness.services.config.database as { url: string }).url, ...testSecrets(), LOG_LEVEL: 'warn' });
    const cli = (...args: string[]) => runPooler(['keys', ...args], { env });
    const prefix = minted.api_key.prefix;

    const updated = await cli('update', prefix, '--models', 'gpt-5.4,GPT-5.4-mini', '--enforce-model', 'gpt-5.4-mini', '--max-reasoning-effort', 'medium', '--service-tier', 'fast', '--json');
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ model_mode: 'selected', allowed_models: ['gpt-5.4', 'gpt-5.4-mini'], enforced_model: 'gpt-5.4-mini', maximum_reasoning_effort: 'medium', service_tier: 'priority' });
    const sent = await send(minted.key, { model: 'gpt-5.4' });
    expect(sent.upstreamBody).toMatchObject({ model: 'gpt-5.4-mini', service_tier: 'priority' });

    const conflict = await cli('update', prefix, '--reasoning-effort', 'high');
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('not both');
    expect((await cli('update', prefix, '--all-models', '--deny-all-models')).code).toBe(2);

    expect(await cli('limits', prefix)).toMatchObject({ code: 0, stdout: 'no limits on this key\n' });
    expect((await cli('limits', prefix, '--rpm', '7', '--tokens-per-day', '1000')).code).toBe(0);
    expect((await cli('limits', prefix, '--model', 'gpt-5.4-mini', '--tokens-per-week', '9000')).code).toBe(0);
    const cleared = await cli('limits', prefix, '--rpm', 'none');
    expect(cleared.stderr).toBe('');
    expect(cleared.code).toBe(0);
    const shown = await cli('limits', prefix, '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual([
      expect.objectContaining({ scope: 'default', model: null, max_requests_per_minute: null, max_tokens_per_day: 1000 }),
      expect.objectContaining({ scope: 'model', model: 'gpt-5.4-mini', max_tokens_per_week: 9000 }),
    ]);
    const table = await cli('limits', prefix, '--model', 'gpt-5.4-mini', '--remove');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('default');
    expect(table.stdout).not.toContain('gpt-5.4-mini');
    expect((await cli('limits', prefix, '--rpm', 'lots')).code).toBe(2);
    // Showing resolves the key like changing does: by id too, and an unknown or malformed ref exits 1.
    expect(JSON.parse((await cli('limits', minted.api_key.id, '--json')).stdout)).toEqual([expect.objectContaining({ scope: 'default', max_tokens_per_day: 1000 })]);
    const unknown = await cli('limits', 'sk-cxp-000000000000');
    expect(unknown).toMatchObject({ code: 1 });
    expect(unknown.stderr).toContain('api key sk-cxp-000000000000 does not exist');
    expect((await cli('limits', 'not-a-key')).stderr).toContain('give a key id (uuid) or prefix');
    expect((await owner.get(`/api-keys/${minted.api_key.id}/limits`)).body).toEqual({ default: expect.objectContaining({ max_tokens_per_day: 1000 }), models: [] });
  });
});
