/**
 * Pool routing settings (control-plane spec §2.2, §4.4, §6.1; acceptance 18) through the admin API
 * and the real CLI, against two web processes on one PostgreSQL database and the fake upstream:
 * an owner's change is audited with every value and applies at once in this process and within
 * about a second in the other; bad values and an admin's attempt change nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AdminClient, bootstrapOwnerClient, startAdminHarness, uniqueEmail, type AdminHarness } from '../support/admin.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { killAllPoolers, poolerEnv, runPooler, testSecrets } from '../support/processes.ts';

let upstream: FakeUpstream;
let harness: AdminHarness;
let peer: TestGateway;
let owner: AdminClient;
let pool: { id: string; slug: string };
let key: string;

const DEFAULTS = {
  routing_strategy: 'bridge_ring',
  bridge_ring_size: 3,
  sticky_websocket_sessions: true,
  sticky_http_sessions: false,
  prompt_cache_affinity_enabled: true,
  v1_compatibility_enabled: true,
  request_compression_enabled: false,
  allow_image_generation: true,
};

beforeAll(async () => {
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  // A second web process on the same database: it learns of changes only through NOTIFY.
  peer = await startGateway({ databaseUrl: databaseUrl(), upstream });
  owner = await bootstrapOwnerClient(harness);
  pool = (await owner.post('/pools', { name: `Routing ${randomBytes(2).toString('hex')}` })).body.pool;
  const accountId = `acct-${randomBytes(5).toString('hex')}`;
  const added = await upstream.addAccount({ accountId, email: `${accountId}@example.com` });
  expect((await owner.post('/accounts/import', { pool_id: pool.id, auth_json: JSON.stringify(added.authJson) })).status).toBe(201);
  const minted = await owner.post('/api-keys', { pool_id: pool.id, label: 'routing' });
  expect(minted.status).toBe(201);
  key = minted.body.key;
});
afterAll(async () => {
  await killAllPoolers();
  await peer?.close();
  await harness?.close();
  await upstream?.close();
});

function databaseUrl(): string {
  return (harness.services.config.database as { url: string }).url;
}

const stored = () => harness.db.selectFrom('pool_routing_settings').selectAll().where('pool_id', '=', pool.id).executeTakeFirstOrThrow();
const routingAudits = () => harness.db.selectFrom('audit_events').selectAll().where('pool_id', '=', pool.id).where('action', '=', 'pool.routing_update').orderBy('occurred_at').execute();

/** One `/v1` request with the pool's key: the status and error code, if any. */
async function sendV1(base: string): Promise<{ status: number; code: string | null }> {
  const response = await fetch(`${base}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-5.4', input: 'hi', stream: true }),
  });
  const text = await response.text();
  return { status: response.status, code: response.ok ? null : (JSON.parse(text) as { error: { code: string } }).error.code };
}

async function generateImage(base: string): Promise<{ status: number; code: string | null }> {
  const response = await fetch(`${base}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-image-1', prompt: 'a lighthouse at dusk', size: '1024x1024' }),
  });
  const text = await response.text();
  return { status: response.status, code: response.ok ? null : (JSON.parse(text) as { error: { code: string } }).error.code };
}

/** Polls until `probe` answers `want` or the deadline passes; answers the last result. */
async function within<T>(ms: number, probe: () => Promise<T>, want: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await probe();
  while (!want(last) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await probe();
  }
  return last;
}

// Sequential on purpose: each step starts from the settings the previous one left.
describe('pool routing settings', () => {
  test('a new pool reports the defaults, also inside GET /pools/:id', async () => {
    const read = await owner.get(`/pools/${pool.id}/routing`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ pool: { id: pool.id, slug: pool.slug }, routing: DEFAULTS });
    expect((await owner.get(`/pools/${pool.id}`)).body.routing).toEqual(DEFAULTS);
  });

  test('a pool without a routing row reports the defaults (acceptance 18)', async () => {
    const bare = (await owner.post('/pools', { name: `Bare ${randomBytes(2).toString('hex')}` })).body.pool;
    await harness.db.deleteFrom('pool_routing_settings').where('pool_id', '=', bare.id).execute();
    expect((await owner.get(`/pools/${bare.id}/routing`)).body.routing).toEqual(DEFAULTS);
    // The first edit creates the row.
    const edited = await owner.call('PATCH', `/pools/${bare.id}/routing`, { bridge_ring_size: 4 });
    expect(edited.body.routing).toEqual({ ...DEFAULTS, bridge_ring_size: 4 });
    const row = await harness.db.selectFrom('pool_routing_settings').select('bridge_ring_size').where('pool_id', '=', bare.id).executeTakeFirstOrThrow();
    expect(row.bridge_ring_size).toBe(4);
  });

  test('/v1 off: refused at once in this process and within a second in the other; audited with every value', async () => {
    expect((await sendV1(harness.url)).status).toBe(200);
    expect((await sendV1(peer.url)).status).toBe(200); // both processes have the key cached with /v1 on

    const patched = await owner.call('PATCH', `/pools/${pool.id}/routing`, { v1_compatibility_enabled: false });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ routing: { ...DEFAULTS, v1_compatibility_enabled: false }, changed_fields: ['v1_compatibility_enabled'] });

    expect(await sendV1(harness.url)).toEqual({ status: 403, code: 'v1_compatibility_disabled' });
    expect(await within(1000, () => sendV1(peer.url), (r) => r.status === 403)).toEqual({ status: 403, code: 'v1_compatibility_disabled' });
    // The Codex surface of the same key is unaffected.
    const codex = await fetch(`${peer.url}/backend-api/codex/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true }),
    });
    await codex.text();
    expect(codex.status).toBe(200);

    const audits = await routingAudits();
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ actor_type: 'user', target_type: 'pool', target_id: pool.id });
    expect(audits[0]!.details).toEqual({
      changed_fields: ['v1_compatibility_enabled'],
      ...DEFAULTS,
      v1_compatibility_enabled: false,
      previous: DEFAULTS,
    });
    // The audit log shows the flags as they are (they name prompts and images, but hold booleans).
    const shown = await owner.get(`/audit?pool_id=${pool.id}&action=pool.routing_update`);
    expect(JSON.stringify(shown.body)).toContain('"prompt_cache_affinity_enabled":true');
    expect(JSON.stringify(shown.body)).not.toContain('REDACTED');
  });

  test('images off: /v1/images/generations is 403 image_generation_disabled in both processes', async () => {
    expect((await owner.call('PATCH', `/pools/${pool.id}/routing`, { v1_compatibility_enabled: true })).status).toBe(200);
    expect((await within(1000, () => generateImage(peer.url), (r) => r.status === 200)).status).toBe(200);

    expect((await owner.call('PATCH', `/pools/${pool.id}/routing`, { allow_image_generation: false })).body.routing.allow_image_generation).toBe(false);
    const before = upstream.requestsTo('/backend-api/codex/responses').length;
    expect(await generateImage(harness.url)).toEqual({ status: 403, code: 'image_generation_disabled' });
    expect(await within(1000, () => generateImage(peer.url), (r) => r.status === 403)).toEqual({ status: 403, code: 'image_generation_disabled' });
    expect(upstream.requestsTo('/backend-api/codex/responses').length).toBe(before);
    // Text requests on /v1 still pass.
    expect((await sendV1(peer.url)).status).toBe(200);
  });

  test('a strategy change shows in the route explanation of both processes', async () => {
    const peerOwner = new AdminClient(peer.app);
    peerOwner.cookie = owner.cookie;
    expect((await peerOwner.get(`/pools/${pool.id}/routing/explain`)).body.explanation).toMatchObject({ strategy: 'bridge_ring', ring_size: 3 });

    const patched = await owner.call('PATCH', `/pools/${pool.id}/routing`, { routing_strategy: 'least_recent_success', bridge_ring_size: 2, sticky_http_sessions: true });
    expect(patched.body.changed_fields).toEqual(['routing_strategy', 'bridge_ring_size', 'sticky_http_sessions']);
    expect((await owner.get(`/pools/${pool.id}/routing/explain`)).body.explanation).toMatchObject({ strategy: 'least_recent_success', ring_size: 2 });
    const seen = await within(1000, async () => (await peerOwner.get(`/pools/${pool.id}/routing/explain`)).body.explanation, (e) => e.strategy === 'least_recent_success');
    expect(seen).toMatchObject({ strategy: 'least_recent_success', ring_size: 2 });
  });

  test('bad values are 400 naming the field and change nothing', async () => {
    const before = await stored();
    const auditsBefore = (await routingAudits()).length;
    for (const [body, param] of [
      [{ routing_strategy: 'round_robin' }, 'routing_strategy'],
      [{ bridge_ring_size: 0 }, 'bridge_ring_size'],
      [{ bridge_ring_size: 1.5 }, 'bridge_ring_size'],
      [{ sticky_http_sessions: 'yes' }, 'sticky_http_sessions'],
      // A valid change next to a bad one is not applied either.
      [{ routing_strategy: 'quota_first', allow_image_generation: 'no' }, 'allow_image_generation'],
      [{ request_compression_enabled: true }, 'request_compression_enabled'],
      [{ colour: 'blue' }, 'colour'],
    ] as const) {
      const refused = await owner.call('PATCH', `/pools/${pool.id}/routing`, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'invalid_request', param });
    }
    const compression = await owner.call('PATCH', `/pools/${pool.id}/routing`, { request_compression_enabled: true });
    expect(compression.body.error.message).toContain('not supported by this gateway');
    expect(await stored()).toEqual(before);
    expect(await routingAudits()).toHaveLength(auditsBefore);

    // Unknown pool, and an edit that changes no value (nothing written, nothing audited).
    expect((await owner.call('PATCH', `/pools/00000000-0000-4000-8000-000000000000/routing`, { bridge_ring_size: 2 })).body.error.code).toBe('pool_not_found');
    const same = await owner.call('PATCH', `/pools/${pool.id}/routing`, { bridge_ring_size: 2 });
    expect(same.body.changed_fields).toEqual([]);
    expect(await routingAudits()).toHaveLength(auditsBefore);
  });

  test('an instance admin may read an assigned pool\'s routing but not change it', async () => {
    const email = uniqueEmail('admin');
    expect((await owner.post('/operators', { email, role: 'instance_admin', pool_ids: [pool.id], password: 'admin password 1', password_change_required: false })).status).toBe(201);
    const admin = new AdminClient(harness.app);
    await admin.login(email, 'admin password 1');
    expect((await admin.get(`/pools/${pool.id}/routing`)).body.routing.routing_strategy).toBe('least_recent_success');

    const before = await stored();
    const auditsBefore = (await routingAudits()).length;
    const refused = await admin.call('PATCH', `/pools/${pool.id}/routing`, { routing_strategy: 'quota_first' });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ error: expect.objectContaining({ code: 'capability_denied', message: "only an instance owner can change a pool's routing" }) });
    expect(await stored()).toEqual(before);
    expect(await routingAudits()).toHaveLength(auditsBefore);
  });
});

describe('codex-pooler pools routing (a real process)', () => {
  test('prints, changes (audited as the CLI, seen by the running processes), refuses bad flags with exit 2', async () => {
    const env = poolerEnv({ DATABASE_URL: databaseUrl(), ...testSecrets(), LOG_LEVEL: 'warn' });
    const cli = (...args: string[]) => runPooler(['pools', 'routing', ...args], { env });

    const shown = await cli(pool.slug, '--json');
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({ ...DEFAULTS, routing_strategy: 'least_recent_success', bridge_ring_size: 2, sticky_http_sessions: true, allow_image_generation: false });

    const table = await cli(pool.id);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^routing of pool /);
    expect(table.stdout).toMatch(/^strategy\s+least_recent_success$/m);
    expect(table.stdout).toMatch(/^image generation\s+off$/m);

    const before = await stored();
    for (const args of [['--strategy', 'round_robin'], ['--ring-size', '0'], ['--v1', 'maybe'], ['--colour', 'blue']]) {
      const refused = await cli(pool.slug, ...args);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(/^codex-pooler: /);
    }
    const unknown = await cli('no-such-pool', '--strategy', 'quota_first');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('does not exist');
    expect(await stored()).toEqual(before);

    const changed = await cli(pool.slug, '--strategy', 'quota_first', '--ring-size', '5', '--images', 'on', '--v1', 'off', '--sticky-websocket', 'off', '--prompt-cache-affinity', 'off', '--sticky-http', 'off');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/^changed routing_strategy, bridge_ring_size, sticky_websocket_sessions, sticky_http_sessions, prompt_cache_affinity_enabled, v1_compatibility_enabled, allow_image_generation$/m);
    const expected = { ...DEFAULTS, routing_strategy: 'quota_first', bridge_ring_size: 5, sticky_websocket_sessions: false, prompt_cache_affinity_enabled: false, v1_compatibility_enabled: false };
    expect(await stored()).toMatchObject(expected);
    const audit = (await routingAudits()).at(-1)!;
    expect(audit).toMatchObject({ actor_type: 'system', actor_label: 'cli' });
    expect(audit.details).toMatchObject({ ...expected, previous: { routing_strategy: 'least_recent_success', bridge_ring_size: 2 } });

    // The CLI process announced it over NOTIFY: both web processes apply it.
    expect(await within(1000, () => sendV1(harness.url), (r) => r.status === 403)).toEqual({ status: 403, code: 'v1_compatibility_disabled' });
    expect(await within(1000, () => sendV1(peer.url), (r) => r.status === 403)).toEqual({ status: 403, code: 'v1_compatibility_disabled' });
    expect((await owner.get(`/pools/${pool.id}/routing/explain`)).body.explanation).toMatchObject({ strategy: 'quota_first', ring_size: 5 });

    const enabling = await cli(pool.slug, '--json', '--v1', 'on');
    expect(enabling.code).toBe(0);
    expect(JSON.parse(enabling.stdout)).toEqual({ ...expected, v1_compatibility_enabled: true });
    expect((await within(1000, () => sendV1(peer.url), (r) => r.status === 200)).status).toBe(200);
  });
});
