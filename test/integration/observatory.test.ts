import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mintApiKey, pauseApiKey, rotateApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { OBSERVATORY_LOGIN_FAILED } from '../../src/observatory/index.ts';
import { bootstrapOwnerClient, startAdminHarness, type AdminClient, type AdminHarness } from '../support/admin.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { TEST_SECRETS } from '../support/gateway.ts';
import { seedObservedKey, type ObservedKey } from '../support/observatory.ts';
import { killAllPoolers, poolerEnv, runPooler } from '../support/processes.ts';

// gpt-5.4, standard tier, in the vendored pricing feed: USD per 1M tokens = micro-USD per token.
const RATES = { input: 2.5, cached: 0.25, output: 15 };

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let seeded: ObservedKey;

/** Cost of the key's logged usage, computed here from the token counts and the feed's rates. */
async function expectedCostMicros(keyId: string): Promise<number> {
  const rows = await harness.db.selectFrom('requests').select(['input_tokens', 'cached_input_tokens', 'output_tokens']).where('api_key_id', '=', keyId).execute();
  return rows.reduce((sum, r) => sum + (Number(r.input_tokens) - Number(r.cached_input_tokens)) * RATES.input + Number(r.cached_input_tokens) * RATES.cached + Number(r.output_tokens) * RATES.output, 0);
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  owner = await bootstrapOwnerClient(harness);
  seeded = await seedObservedKey(harness, upstream, {
    pool: 'observatory',
    accountId: 'acct-observatory',
    accountEmail: 'observed-account@example.com',
    label: 'holder',
    dashboardAccess: true,
    questions: ['first question', 'a second, longer question about the pool', 'third'],
  });
}, 60_000);

afterAll(async () => {
  await killAllPoolers();
  await harness?.close();
  await upstream?.close();
});

describe('per-key Observatory (admin API and CLI)', () => {
  test('totals, series, model mix, limits with headroom and recent outcomes, to the micro-dollar', async () => {
    const response = await owner.get(`/api-keys/${seeded.keyId}/observatory?window=24h`);
    expect(response.status, response.raw).toBe(200);
    const o = response.body;
    const tokens = await harness.db.selectFrom('requests').select((eb) => [eb.fn.sum<number>('input_tokens').as('input'), eb.fn.sum<number>('cached_input_tokens').as('cached'), eb.fn.sum<number>('output_tokens').as('output'), eb.fn.sum<number>('total_tokens').as('total')]).where('api_key_id', '=', seeded.keyId).executeTakeFirstOrThrow();
    const cost = Math.round(await expectedCostMicros(seeded.keyId)) / 1e6;
    expect(cost).toBeGreaterThan(0);
    expect(o.key).toEqual({ id: seeded.keyId, prefix: seeded.prefix, label: 'holder', status: 'active', pool_id: seeded.poolId });
    expect(o.totals).toMatchObject({
      requests: 3,
      succeeded: 3,
      failed: 0,
      success_rate: 1,
      fresh_input_tokens: Number(tokens.input) - Number(tokens.cached),
      cached_input_tokens: Number(tokens.cached),
      output_tokens: Number(tokens.output),
      total_tokens: Number(tokens.total),
      cost_usd: cost,
      priced: true,
      unpriced_requests: 0,
    });
    expect(o.totals.avg_latency_ms).toBeGreaterThanOrEqual(0);
    expect(o.series).toHaveLength(24);
    expect(o.bucket_seconds).toBe(3600);
    expect(o.series.reduce((n: number, b: { requests: number }) => n + b.requests, 0)).toBe(3);
    expect(o.models).toEqual([expect.objectContaining({ model: 'gpt-5.4', requests: 3, share: 1, cost_usd: cost })]);
    expect(o.limits).toEqual([
      { scope: 'default', model: null, field: 'max_requests_per_minute', max: 10, used: expect.any(Number), remaining: expect.any(Number), resets_at: expect.any(String) },
      { scope: 'default', model: null, field: 'max_tokens_per_day', max: 100_000, used: Number(tokens.total), remaining: 100_000 - Number(tokens.total), resets_at: expect.stringMatching(/T00:00:00\.000Z$/) },
    ]);
    const rpm = o.limits[0];
    expect(rpm.used + rpm.remaining).toBe(10);
    expect(o.recent).toHaveLength(3);
    expect(o.recent[0]).toMatchObject({ model: 'gpt-5.4', endpoint: '/backend-api/codex/responses', status: 'succeeded', status_code: 200 });
    // Never client addresses, user agents, upstream accounts or prompts.
    for (const secret of [seeded.accountEmail, seeded.accountId, '127.0.0.1', 'first question', 'node', seeded.key]) expect(response.raw).not.toContain(secret);
  });

  test('every window has the spec bucket count; a bad window or an unknown key is refused', async () => {
    for (const [window, buckets] of [['1h', 12], ['5h', 20], ['7d', 28]] as const) {
      const response = await owner.get(`/api-keys/${seeded.keyId}/observatory?window=${window}`);
      expect(response.status).toBe(200);
      expect(response.body.series).toHaveLength(buckets);
      expect(response.body.totals.requests).toBe(3);
    }
    expect((await owner.get(`/api-keys/${seeded.keyId}/observatory?window=2d`)).body.error).toMatchObject({ code: 'invalid_request', param: 'window' });
    expect((await owner.get(`/api-keys/00000000-0000-4000-8000-000000000000/observatory`)).body.error).toMatchObject({ code: 'not_found' });
  });

  test('`keys show ID --json` prints the same Observatory; the table names the limits', async () => {
    const database = harness.services.config.database as { url: string };
    const env = poolerEnv({ DATABASE_URL: database.url, ...TEST_SECRETS });
    const json = await runPooler(['keys', 'show', seeded.prefix, '--window', '24h', '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    const fromCli = JSON.parse(json.stdout);
    const fromApi = (await owner.get(`/api-keys/${seeded.keyId}/observatory?window=24h`)).body;
    expect(fromCli.totals).toEqual(fromApi.totals);
    expect(fromCli.models).toEqual(fromApi.models);
    const text = await runPooler(['keys', 'show', seeded.keyId], { env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`key ${seeded.prefix} (holder), active, last 24h`);
    expect(text.stdout).toMatch(/max_tokens_per_day\s+-\s+\d+\s+100000/);
    const bad = await runPooler(['keys', 'show', seeded.prefix, '--window', '3h'], { env });
    expect(bad.code).toBe(2);
  }, 60_000);
});

describe('key-holder Observatory (/observatory)', () => {
  const form = (key: string) => `observatory%5Bapi_key%5D=${encodeURIComponent(key)}`;
  const cookieOf = (setCookie: string | string[] | undefined, name = '_codex_pooler_observatory_token') => [setCookie ?? []].flat().find((c) => c.startsWith(`${name}=`))!;
  /** The login page's CSRF token, from its cookie and hidden field (they match). */
  async function csrf(): Promise<{ cookie: string; field: string }> {
    const page = await harness.app.inject({ method: 'GET', url: '/observatory/login' });
    const cookie = cookieOf(page.headers['set-cookie'], '_codex_pooler_observatory_csrf').split(';')[0]!;
    const field = /name="_csrf_token" value="([^"]+)"/.exec(page.body)![1]!;
    expect(cookie.split('=')[1]).toBe(field);
    return { cookie, field };
  }
  const login = async (payload: string, url = '/observatory/login', withCsrf = true) => {
    const token = withCsrf ? await csrf() : null;
    return harness.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(token ? { cookie: token.cookie } : {}) },
      payload: token ? `${payload}&_csrf_token=${token.field}` : payload,
    });
  };

  test('the holder signs in with the key and sees only that key; the cookie is HttpOnly and Lax, the token stored as a digest', async () => {
    const signedIn = await login(form(seeded.key));
    expect(signedIn.statusCode).toBe(302);
    expect(signedIn.headers.location).toBe('/observatory');
    const cookie = cookieOf(signedIn.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Max-Age=1209600/);
    const token = cookie.split(';')[0]!.split('=')[1]!;
    const stored = await harness.db.selectFrom('api_key_dashboard_sessions').select(['token_hash', 'expires_at']).where('api_key_id', '=', seeded.keyId).execute();
    expect(stored.length).toBeGreaterThan(0);
    for (const row of stored) expect(row.token_hash.toString('utf8')).not.toContain(token);

    const page = await harness.app.inject({ method: 'GET', url: '/observatory', headers: { cookie: cookie.split(';')[0]! } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const data = await harness.app.inject({ method: 'GET', url: '/observatory/data?window=24h', headers: { cookie: cookie.split(';')[0]! } });
    expect(data.statusCode).toBe(200);
    const body = data.json();
    const admin = (await owner.get(`/api-keys/${seeded.keyId}/observatory?window=24h`)).body;
    expect(body.totals).toEqual(admin.totals);
    expect(body.key).toEqual({ prefix: seeded.prefix, label: 'holder', status: 'active' });
    for (const hidden of [seeded.keyId, seeded.poolId, seeded.accountEmail, '127.0.0.1']) expect(data.body).not.toContain(hidden);

    const loggedOut = await harness.app.inject({ method: 'DELETE', url: '/observatory/logout', headers: { cookie: cookie.split(';')[0]! } });
    expect(loggedOut.statusCode).toBe(302);
    expect(loggedOut.headers.location).toBe('/observatory/login');
    expect((await harness.app.inject({ method: 'GET', url: '/observatory/data', headers: { cookie: cookie.split(';')[0]! } })).statusCode).toBe(401);
  });

  test('every failure is the same 422: wrong secret, any query string, extra fields, a key without dashboard access', async () => {
    const other = await mintApiKey({ db: harness.db, notifier: harness.services.notifier }, cliActor(), { pool: seeded.poolId, label: 'no dashboard' });
    const before = await harness.db.selectFrom('api_key_dashboard_sessions').select('id').execute();
    const attempts = [
      await login(form(`${seeded.prefix}-${'A'.repeat(43)}`)),
      await login(form(seeded.key), '/observatory/login?next=/admin'),
      await login(`${form(seeded.key)}&extra=1`),
      await login(form(other.key)),
      await login(form('not a key')),
      // A valid key without the login page's CSRF token (a cross-site form post), or with another one.
      await login(form(seeded.key), '/observatory/login', false),
      await harness.app.inject({ method: 'POST', url: '/observatory/login', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: '_codex_pooler_observatory_csrf=abc' }, payload: `${form(seeded.key)}&_csrf_token=abd` }),
    ];
    for (const attempt of attempts) {
      expect(attempt.statusCode).toBe(422);
      expect(attempt.body).toContain(OBSERVATORY_LOGIN_FAILED);
      expect(cookieOf(attempt.headers['set-cookie'])).toBeUndefined();
    }
    expect(await harness.db.selectFrom('api_key_dashboard_sessions').select('id').execute()).toHaveLength(before.length);
    expect((await harness.app.inject({ method: 'GET', url: '/observatory' })).headers.location).toBe('/observatory/login');
  });

  test('an 11th sign-in leaves 10 sessions; rotating, then pausing, the key ends all of them', async () => {
    const minted = await mintApiKey({ db: harness.db, notifier: harness.services.notifier }, cliActor(), { pool: seeded.poolId, label: 'many sessions', dashboardAccess: true });
    const cookies: string[] = [];
    for (let i = 0; i < 11; i++) {
      const response = await login(form(minted.key));
      expect(response.statusCode).toBe(302);
      cookies.push(cookieOf(response.headers['set-cookie']).split(';')[0]!);
    }
    const count = async () => (await harness.db.selectFrom('api_key_dashboard_sessions').select('id').where('api_key_id', '=', minted.apiKey.id).execute()).length;
    expect(await count()).toBe(10);
    // The first session was the one trimmed.
    expect((await harness.app.inject({ method: 'GET', url: '/observatory/data', headers: { cookie: cookies[0]! } })).statusCode).toBe(401);
    expect((await harness.app.inject({ method: 'GET', url: '/observatory/data', headers: { cookie: cookies[10]! } })).statusCode).toBe(200);

    const rotated = await rotateApiKey({ db: harness.db, notifier: harness.services.notifier }, cliActor(), minted.apiKey.id);
    expect(await count()).toBe(0);
    expect((await harness.app.inject({ method: 'GET', url: '/observatory/data', headers: { cookie: cookies[10]! } })).statusCode).toBe(401);
    expect((await login(form(rotated.key))).statusCode).toBe(302);
    expect(await count()).toBe(1);
    await pauseApiKey({ db: harness.db, notifier: harness.services.notifier }, cliActor(), minted.apiKey.id);
    expect(await count()).toBe(0);
    expect((await login(form(rotated.key))).statusCode).toBe(422);
  });
});
