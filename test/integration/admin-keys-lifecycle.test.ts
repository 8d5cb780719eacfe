/**
 * Pool API key lifecycle through the admin API (spec §6.2, acceptance 24, 26, 27) against the real
 * gateway and the fake upstream: pause, resume, edit, rotate, revoke and delete take effect at the
 * gateway at once; role refusals change nothing; usage and cost come from the ledger and equal
 * what the CLI `usage` command reports for the same period.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { usageReport } from '../../src/accounting/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { AdminClient, bootstrapOwnerClient, startAdminHarness, uniqueEmail, type AdminHarness } from '../support/admin.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { killAllPoolers, poolerEnv, runPooler, testSecrets } from '../support/processes.ts';

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let pool: { id: string; slug: string };

type Minted = { key: string; api_key: { id: string; prefix: string; status: string } };

beforeAll(async () => {
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  // What `codex-pooler migrate` adds after the schema: prices, so the ledger carries costs.
  await migrateAndImportPricing(harness.db, pino({ level: 'silent' }));
  owner = await bootstrapOwnerClient(harness);
  pool = (await owner.post('/pools', { name: `Keys ${randomBytes(2).toString('hex')}` })).body.pool;
  const accountId = `acct-${randomBytes(5).toString('hex')}`;
  const added = await upstream.addAccount({ accountId, email: `${accountId}@example.com` });
  expect((await owner.post('/accounts/import', { pool_id: pool.id, auth_json: JSON.stringify(added.authJson) })).status).toBe(201);
});
afterAll(async () => {
  await killAllPoolers();
  await harness?.close();
  await upstream?.close();
});

async function mint(label: string, poolId = pool.id, client = owner): Promise<Minted> {
  const created = await client.post('/api-keys', { pool_id: poolId, label });
  expect(created.status).toBe(201);
  return created.body;
}

/** One streamed request through the gateway; answers the status and the error code, if any. */
async function send(key: string, surface: 'backend' | 'v1' = 'backend'): Promise<{ status: number; code: string | null }> {
  const path = surface === 'backend' ? '/backend-api/codex/responses' : '/v1/responses';
  const response = await fetch(`${harness.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-5.4', instructions: 'be brief', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true }),
  });
  const text = await response.text();
  if (response.ok) return { status: response.status, code: null };
  return { status: response.status, code: (JSON.parse(text) as { error: { code: string } }).error.code };
}

const keyRow = (id: string) => harness.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
const auditOf = (id: string) => harness.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', id).orderBy('occurred_at').execute();

describe('pause and resume', () => {
  test('a paused key is 401 api_key_paused (api_key_disabled on /v1); pausing twice is silent; resume restores it', async () => {
    const minted = await mint('pausable');
    expect((await send(minted.key)).status).toBe(200);
    const before = await keyRow(minted.api_key.id);

    const paused = await owner.post(`/api-keys/${minted.api_key.id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body.api_key).toMatchObject({ status: 'paused', state: 'paused' });
    expect(await send(minted.key)).toEqual({ status: 401, code: 'api_key_paused' });
    expect(await send(minted.key, 'v1')).toEqual({ status: 401, code: 'api_key_disabled' });
    expect(Number((await keyRow(minted.api_key.id))!.runtime_revocation_epoch)).toBe(Number(before!.runtime_revocation_epoch) + 1);

    expect((await owner.post(`/api-keys/${minted.api_key.id}/pause`)).body.api_key.status).toBe('paused');
    expect(Number((await keyRow(minted.api_key.id))!.runtime_revocation_epoch)).toBe(Number(before!.runtime_revocation_epoch) + 1);
    expect((await auditOf(minted.api_key.id)).filter((a) => a.action === 'api_key.pause')).toHaveLength(1);

    expect((await owner.post(`/api-keys/${minted.api_key.id}/resume`)).body.api_key.status).toBe('active');
    expect((await send(minted.key)).status).toBe(200);
    expect((await auditOf(minted.api_key.id)).map((a) => a.action)).toEqual(['api_key.create', 'api_key.pause', 'api_key.resume']);
  });
});

describe('rotate', () => {
  test('same id, new prefix; the old key is refused at once, the new one works; shown once; audited with the previous prefix', async () => {
    const minted = await mint('rotating');
    expect((await send(minted.key)).status).toBe(200);
    const rotated = await owner.post(`/api-keys/${minted.api_key.id}/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.api_key.id).toBe(minted.api_key.id);
    expect(rotated.body.api_key.prefix).not.toBe(minted.api_key.prefix);
    expect(rotated.body.key).toMatch(/^sk-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    expect(rotated.body.key.startsWith(rotated.body.api_key.prefix)).toBe(true);

    expect(await send(minted.key)).toEqual({ status: 401, code: 'api_key_missing' });
    expect((await send(rotated.body.key)).status).toBe(200);

    const list = await owner.get(`/api-keys?pool_id=${pool.id}`);
    expect(list.raw).not.toContain(rotated.body.key);
    expect(list.body.items.find((k: { id: string }) => k.id === minted.api_key.id).prefix).toBe(rotated.body.api_key.prefix);
    const audit = (await auditOf(minted.api_key.id)).find((a) => a.action === 'api_key.rotate');
    expect(audit?.details).toMatchObject({ previous_key_prefix: minted.api_key.prefix, key_prefix: rotated.body.api_key.prefix });
    expect(JSON.stringify(audit)).not.toContain(rotated.body.key);
  });
});

describe('edit', () => {
  test('name, notes and expiry change in one audited edit; bad input is 400 and changes nothing', async () => {
    const minted = await mint('editable');
    const expires = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const edited = await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { label: 'laptop', notes: 'Ana\'s laptop, codex CLI', expires_at: expires });
    expect(edited.status).toBe(200);
    expect(edited.body.api_key).toMatchObject({ label: 'laptop', notes: "Ana's laptop, codex CLI", expires_at: expires, status: 'active' });
    const update = (await auditOf(minted.api_key.id)).find((a) => a.action === 'api_key.update');
    expect((update?.details as { changed_fields: string[] }).changed_fields.sort()).toEqual(['expires_at', 'label', 'notes']);

    const before = await keyRow(minted.api_key.id);
    for (const [body, param] of [
      [{ expires_at: 'next tuesday' }, 'expires_at'],
      [{ expires_at: '2001-01-01' }, 'expires_at'],
      [{ status: 'revoked' }, 'status'],
      [{ label: 'x'.repeat(161) }, 'label'],
      [{ colour: 'blue' }, null],
    ] as const) {
      const refused = await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe('invalid_request');
      if (param) expect(refused.body.error.param).toBe(param);
    }
    expect(await keyRow(minted.api_key.id)).toEqual(before);

    // Clearing the expiry and pausing through the edit.
    const paused = await owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { expires_at: null, status: 'paused' });
    expect(paused.body.api_key).toMatchObject({ expires_at: null, status: 'paused' });
    expect(await send(minted.key)).toEqual({ status: 401, code: 'api_key_paused' });
  });
});

describe('revoke and delete', () => {
  test('a revoked key refuses resume, rotate and edit with api_key_revoked', async () => {
    const minted = await mint('revocable');
    expect((await owner.post(`/api-keys/${minted.api_key.id}/revoke`)).body.api_key.status).toBe('revoked');
    expect(await send(minted.key)).toEqual({ status: 401, code: 'api_key_revoked' });
    for (const attempt of [
      () => owner.post(`/api-keys/${minted.api_key.id}/resume`),
      () => owner.post(`/api-keys/${minted.api_key.id}/rotate`),
      () => owner.call('PATCH', `/api-keys/${minted.api_key.id}`, { label: 'back' }),
    ]) {
      const refused = await attempt();
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('api_key_revoked');
    }
    expect((await keyRow(minted.api_key.id))!.status).toBe('revoked');
  });

  test('delete needs the prefix typed; then the key, its history and ledger rows are gone and the delete is audited', async () => {
    const minted = await mint('deletable');
    expect((await send(minted.key)).status).toBe(200);
    // Its request log and ledger rows are written in a batch shortly after; wait so the delete has history to remove.
    const ledgerRows = () => harness.db.selectFrom('ledger_entries').select('id').where('api_key_id', '=', minted.api_key.id).execute();
    await expect.poll(async () => (await ledgerRows()).length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    for (const confirm of [undefined, 'sk-cxp-000000000000', minted.api_key.prefix.slice(0, -1)]) {
      const refused = await owner.call('DELETE', `/api-keys/${minted.api_key.id}`, confirm === undefined ? {} : { confirm });
      expect(refused.status).toBe(422);
      expect(refused.body.error).toMatchObject({ code: 'confirmation_mismatch', param: 'confirm' });
    }
    expect(await keyRow(minted.api_key.id)).toBeDefined();

    const deleted = await owner.call('DELETE', `/api-keys/${minted.api_key.id}`, { confirm: minted.api_key.prefix });
    expect(deleted.status).toBe(200);
    expect(deleted.body.deleted).toMatchObject({ id: minted.api_key.id, prefix: minted.api_key.prefix });
    expect(await keyRow(minted.api_key.id)).toBeUndefined();
    expect(await harness.db.selectFrom('requests').select('id').where('api_key_id', '=', minted.api_key.id).execute()).toEqual([]);
    expect(await ledgerRows()).toEqual([]);
    expect((await auditOf(minted.api_key.id)).map((a) => a.action)).toContain('api_key.delete');
    expect(await send(minted.key)).toEqual({ status: 401, code: 'api_key_missing' });
    expect((await owner.call('DELETE', `/api-keys/${minted.api_key.id}`, { confirm: minted.api_key.prefix })).body.error.code).toBe('not_found');
  });
});

describe('roles', () => {
  test("an admin manages keys of an assigned pool; another pool's keys are 403 capability_denied and nothing changes", async () => {
    const other = (await owner.post('/pools', { name: `Other ${randomBytes(2).toString('hex')}` })).body.pool;
    const foreign = await mint('foreign', other.id);
    const email = uniqueEmail('keys-admin');
    await owner.post('/operators', { email, role: 'instance_admin', pool_ids: [pool.id], password: 'admin password 1', password_change_required: false });
    const admin = new AdminClient(harness.app);
    expect((await admin.login(email, 'admin password 1')).status).toBe(200);

    const own = await mint('admin own', pool.id, admin);
    expect((await admin.post(`/api-keys/${own.api_key.id}/pause`)).body.api_key.status).toBe('paused');

    const before = await keyRow(foreign.api_key.id);
    const auditBefore = (await auditOf(foreign.api_key.id)).length;
    for (const attempt of [
      () => admin.post(`/api-keys/${foreign.api_key.id}/pause`),
      () => admin.post(`/api-keys/${foreign.api_key.id}/rotate`),
      () => admin.post(`/api-keys/${foreign.api_key.id}/revoke`),
      () => admin.call('PATCH', `/api-keys/${foreign.api_key.id}`, { label: 'mine now' }),
      () => admin.call('DELETE', `/api-keys/${foreign.api_key.id}`, { confirm: foreign.api_key.prefix }),
    ]) {
      const refused = await attempt();
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual({ error: expect.objectContaining({ code: 'capability_denied' }) });
      expect(refused.raw).not.toContain('sk-cxp-');
    }
    expect(await keyRow(foreign.api_key.id)).toEqual(before);
    expect(await auditOf(foreign.api_key.id)).toHaveLength(auditBefore);
    // Still a working key: whatever the gateway answers, it is not a key refusal.
    expect((await send(foreign.key)).code ?? '').not.toMatch(/^api_key_/);
    // Without the CSRF header even an allowed change is refused.
    expect((await admin.call('POST', `/api-keys/${own.api_key.id}/resume`, {}, { csrf: false })).body.error.code).toBe('csrf_invalid');
    expect((await keyRow(own.api_key.id))!.status).toBe('paused');
  });
});

describe('command line', () => {
  test('keys pause, rotate, update (resume via --status) and delete act on the key the gateway checks', async () => {
    const minted = await mint('cli');
    const env = poolerEnv({ DATABASE_URL: (harness.services.config.database as { url: string }).url, ...testSecrets(), LOG_LEVEL: 'warn' });
    const cli = (...args: string[]) => runPooler(['keys', ...args], { env });

    const paused = await cli('pause', minted.api_key.prefix);
    expect(paused).toMatchObject({ code: 0, stdout: `key ${minted.api_key.prefix} is paused\n` });
    expect(await send(minted.key)).toEqual({ status: 401, code: 'api_key_paused' });

    const rotated = await cli('rotate', minted.api_key.id);
    expect(rotated.code).toBe(0);
    const newKey = rotated.stdout.trim().split('\n').at(-1)!;
    expect(newKey).toMatch(/^sk-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    expect(rotated.stderr).toContain('shown only this once');

    const updated = await cli('update', minted.api_key.id, '--label', 'renamed by cli', '--status', 'active', '--expires', '2099-01-31', '--json');
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ id: minted.api_key.id, label: 'renamed by cli', state: 'active', expires_at: '2099-01-31T00:00:00.000Z' });
    expect((await send(newKey)).status).toBe(200);
    expect(await send(minted.key)).toEqual({ status: 401, code: 'api_key_missing' });

    const newPrefix = newKey.slice(0, 19);
    const wrong = await cli('delete', minted.api_key.id, '--confirm', minted.api_key.prefix);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('type the key prefix');
    expect(await keyRow(minted.api_key.id)).toBeDefined();
    expect(await cli('delete', newPrefix, '--confirm', newPrefix)).toMatchObject({ code: 0, stdout: `deleted key ${newPrefix}\n` });
    expect(await keyRow(minted.api_key.id)).toBeUndefined();
    const actions = (await harness.db.selectFrom('audit_events').select(['action', 'actor_type']).where('target_id', '=', minted.api_key.id).orderBy('occurred_at').execute());
    expect(actions.map((a) => a.action)).toEqual(['api_key.create', 'api_key.pause', 'api_key.rotate', 'api_key.update', 'api_key.delete']);
    expect(actions.slice(1).every((a) => a.actor_type === 'system')).toBe(true);
  });
});

describe('usage and cost from the ledger', () => {
  test('the admin usage report equals the ledger report and the CLI `usage` output for the same period', async () => {
    const minted = await mint('usage');
    for (let i = 0; i < 2; i++) expect((await send(minted.key)).status).toBe(200);
    const from = new Date(Date.now() - 3600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    // Request logs and ledger rows are written in batches: wait until both requests are settled and priced.
    const row = async () => (await owner.get(`/usage?group_by=api_key&pool_id=${pool.id}&from=${from}&to=${to}`)).body.rows.find((r: { key: string }) => r.key === minted.api_key.id);
    await expect.poll(async () => JSON.stringify(await row()), { timeout: 10_000, interval: 200 }).toMatch(/"requests":2,.*"estimated_cost_micros":0,/);
    expect((await row()).settled_cost_micros).toBeGreaterThan(0);

    const env = poolerEnv({ DATABASE_URL: (harness.services.config.database as { url: string }).url, ...testSecrets(), LOG_LEVEL: 'warn' });
    for (const [groupBy, cliGroup] of [['model', 'model'], ['api_key', 'key'], ['account', 'account'], ['day', 'day']] as const) {
      const api = await owner.get(`/usage?group_by=${groupBy}&pool_id=${pool.id}&from=${from}&to=${to}`);
      expect(api.status).toBe(200);
      const report = await usageReport(harness.db, { from: new Date(from), to: new Date(to), groupBy, poolIds: [pool.id] });
      expect(api.body.rows).toEqual(JSON.parse(JSON.stringify(report.rows)));
      expect(api.body.totals).toEqual(report.totals);
      if (groupBy !== 'model' && groupBy !== 'api_key') continue; // two CLI runs are enough proof
      const cli = await runPooler(['usage', '--pool', pool.slug, '--by', cliGroup, '--from', from, '--to', to, '--json'], { env });
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      const rows = JSON.parse(cli.stdout) as Record<string, unknown>[];
      expect(rows.map((r) => ({ key: r[cliGroup], requests: r.requests, total_tokens: r.total_tokens, cost_usd: r.cost_usd, priced: r.priced }))).toEqual(
        api.body.rows.map((r: Record<string, unknown>) => ({ key: r.key, requests: r.requests, total_tokens: r.total_tokens, cost_usd: r.cost_usd, priced: r.priced })),
      );
    }
    const byModel = (await owner.get(`/usage?group_by=model&pool_id=${pool.id}&from=${from}&to=${to}`)).body;
    const gpt = byModel.rows.find((r: { key: string }) => r.key === 'gpt-5.4');
    expect(gpt).toMatchObject({ priced: true, unpriced_requests: 0 });
    expect(gpt.cost_usd).toBeGreaterThan(0);
    expect(gpt.total_tokens).toBeGreaterThan(0);
    expect(byModel.sources.live_ranges.length).toBeGreaterThan(0);
  });

  test('bad usage input is a 400 envelope', async () => {
    expect((await owner.get('/usage?group_by=colour')).body.error).toMatchObject({ code: 'invalid_request', param: 'group_by' });
    const backwards = await owner.get(`/usage?from=${new Date().toISOString()}&to=${new Date(Date.now() - 3600_000).toISOString()}`);
    expect(backwards.status).toBe(400);
    expect(backwards.body.error).toMatchObject({ code: 'invalid_request', param: 'from' });
  });
});
