import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { AdminClient, bootstrapOwnerClient, OWNER_PASSWORD, startAdminHarness, totpCodeFor, type AdminHarness } from '../support/admin.ts';

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let pool: { id: string; slug: string };
let account: { id: string; identity_id: string };
let minted: { key: string; api_key: { id: string; prefix: string } };
let upstreamTokens: string[] = [];
/** Every secret the API hands out once (key, TOTP secret, recovery codes, temporary password). */
const shownOnce: string[] = [];

beforeAll(async () => {
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  owner = await bootstrapOwnerClient(harness);
  pool = (await owner.post('/pools', { name: 'Data Pool' })).body.pool;
  const accountId = `acct-${randomBytes(5).toString('hex')}`;
  const added = await upstream.addAccount({ accountId, email: `${accountId}@example.com` });
  upstreamTokens = [added.authJson.tokens.access_token, added.authJson.tokens.refresh_token, added.authJson.tokens.id_token];
  const imported = await owner.post('/accounts/import', { pool_id: pool.id, auth_json: JSON.stringify(added.authJson) });
  expect(imported.status).toBe(201);
  account = imported.body.account;
  const key = await owner.post('/api-keys', { pool_id: pool.id, label: 'data key' });
  minted = key.body;
  shownOnce.push(minted.key);
});
afterAll(async () => {
  await harness?.close();
  await upstream?.close();
});

/** Reads server-sent events from the live request log until `predicate` matches one (or time runs out). */
async function watchStream(cookie: string, predicate: (event: { event: string; data: any }) => boolean, trigger: () => Promise<void>) {
  const controller = new AbortController();
  const response = await fetch(`${harness.url}/api/admin/request-logs/stream?pool_id=${pool.id}`, { headers: { cookie }, signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const timeout = setTimeout(() => controller.abort(), 10_000);
  await trigger();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (event && data) {
          const parsed = { event, data: JSON.parse(data) };
          if (predicate(parsed)) return parsed;
        }
      }
    }
  } finally {
    clearTimeout(timeout);
    controller.abort();
  }
}

describe('accounts, keys and the live request log', () => {
  test('accounts list shows state and quota windows, never the ChatGPT account id or tokens', async () => {
    const list = await owner.get(`/accounts?pool_id=${pool.id}`);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ id: account.id, state: 'active', quota: { primary: expect.anything() } });
    expect(list.body.items[0]).not.toHaveProperty('chatgpt_account_id');
    const keys = await owner.get('/api-keys');
    expect(keys.body.items[0]).toMatchObject({ prefix: minted.api_key.prefix, status: 'active' });
    expect(keys.raw).not.toContain(minted.key);
  });

  test('a request through the gateway appears in the live stream within seconds', async () => {
    const correlation = `admin-stream-${randomUUID()}`;
    const event = await watchStream(
      owner.cookie!,
      (e) => e.event === 'request_log' && e.data.api_key_id === minted.api_key.id,
      async () => {
        const response = await fetch(`${harness.url}/backend-api/codex/responses`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${minted.key}`, 'x-request-id': correlation },
          body: JSON.stringify({ model: 'gpt-5.4', instructions: 'be brief', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello secret prompt' }] }], stream: true }),
        });
        expect(response.status).toBe(200);
        await response.text();
        // The live view is open-ended: shutdown does not wait for it (only the finished gateway request was counted).
        await vi.waitFor(() => expect(harness.drain.inFlight).toBe(0), { timeout: 2_000, interval: 20 });
      },
    );
    expect(event?.data).toMatchObject({ pool_id: pool.id, status: 'succeeded', model: expect.stringContaining('gpt'), account_id: account.id });
    expect(JSON.stringify(event)).not.toContain('hello secret prompt');
  });

  test('without a session the stream is 401', async () => {
    const response = await fetch(`${harness.url}/api/admin/request-logs/stream`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_session' } });
  });
});

describe('request log filters, pagination and usage', () => {
  const sameInstant = new Date(Date.now() - 3600_000);
  beforeAll(async () => {
    const base = { pool_id: null as string | null, endpoint: '/backend-api/codex/responses', transport: 'http_json', completed_at: sameInstant, admitted_at: sameInstant };
    const rows = Array.from({ length: 5 }, (_, i) => ({
      ...base,
      pool_id: pool.id,
      api_key_id: minted.api_key.id,
      pool_upstream_assignment_id: i % 2 === 0 ? account.id : null,
      status: i === 4 ? 'failed' : 'succeeded',
      response_status_code: i === 4 ? 429 : 200,
      model_id: i < 3 ? 'gpt-5.4' : 'gpt-5.4-mini',
      correlation_id: `page-${i}-${randomUUID()}`,
      input_tokens: 10,
      output_tokens: 5,
      total_tokens: 15,
    }));
    await harness.db.insertInto('requests').values(rows as never).execute();
  });

  test('keyset pages over rows sharing one admitted_at, newest first, no duplicates', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    const from = new Date(sameInstant.getTime() - 1000).toISOString();
    const to = new Date(sameInstant.getTime() + 1000).toISOString();
    do {
      const page: any = await owner.get(`/request-logs?pool_id=${pool.id}&from=${from}&to=${to}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((r: { id: string }) => r.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });

  test('filters by key, account, model and status (word or HTTP code)', async () => {
    const q = (query: string) => owner.get(`/request-logs?pool_id=${pool.id}&to=${new Date(sameInstant.getTime() + 1000).toISOString()}&${query}`);
    expect((await q(`api_key_id=${minted.api_key.id}`)).body.items).toHaveLength(5);
    expect((await q(`account_id=${account.id}`)).body.items).toHaveLength(3);
    expect((await q('model=GPT-5.4-mini')).body.items).toHaveLength(2);
    expect((await q('status=failed')).body.items).toHaveLength(1);
    expect((await q('status=429')).body.items).toHaveLength(1);
    expect((await q('status=bogus')).body.error).toMatchObject({ code: 'invalid_request', param: 'status' });
    expect((await q('from=yesterday')).body.error).toMatchObject({ code: 'invalid_request', param: 'from' });
  });

  test('usage totals per model and per day', async () => {
    const byModel = await owner.get(`/usage?group_by=model&pool_id=${pool.id}`);
    const mini = byModel.body.rows.find((r: { key: string }) => r.key === 'gpt-5.4-mini');
    expect(mini).toMatchObject({ requests: 2, succeeded: 1, failed: 1, input_tokens: 20, output_tokens: 10, total_tokens: 30, cost_usd: 0 });
    const byDay = await owner.get('/usage?group_by=day');
    expect(byDay.body.rows[0].key).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(byDay.body.totals.requests).toBeGreaterThanOrEqual(6);
  });
});

describe('secrets never leak', () => {
  test('no response or log line carries a token, password hash or key', async () => {
    const enrollment = await owner.post('/me/totp/enrollment');
    shownOnce.push(enrollment.body.secret, ...enrollment.body.recovery_codes);
    await owner.post('/me/totp/confirm', { code: totpCodeFor(enrollment.body.secret) });
    const created = await owner.post('/operators', { email: 'leak-check@example.com', role: 'instance_admin', pool_ids: [pool.id] });
    shownOnce.push(created.body.temporary_password);
    const second = new AdminClient(harness.app);
    await second.login('owner@example.com', OWNER_PASSWORD, { totp_code: totpCodeFor(enrollment.body.secret, 30) });
    await second.login('owner@example.com', 'wrong password here');
    for (const url of ['/session', '/me', '/pools', '/accounts', '/api-keys', '/request-logs', '/audit?limit=200', '/operators', '/settings', '/usage', '/me/sessions']) {
      expect((await owner.get(url)).status, url).toBe(200);
    }

    const hashes = (await harness.db.selectFrom('users').select('password_hash').execute()).map((u) => u.password_hash);
    const sessionTokens = [owner.cookie!, second.cookie!].map((c) => c.split('=')[1]!.split('.')[0]!);
    const never = [...hashes, ...sessionTokens, ...upstreamTokens, OWNER_PASSWORD, 'wrong password here', 'hello secret prompt'];
    const responses = [...owner.seen, ...second.seen];
    const logs = harness.logs.join('\n');
    expect(harness.logs.length).toBeGreaterThan(10);
    for (const secret of never) {
      for (const body of responses) expect(body.includes(secret), `response contains a secret`).toBe(false);
      expect(logs.includes(secret), 'a log line contains a secret').toBe(false);
    }
    // Shown exactly once, in the answer that created it; never logged, never in the audit trail.
    const audit = JSON.stringify(await harness.db.selectFrom('audit_events').select('details').execute());
    for (const secret of shownOnce) {
      expect(responses.filter((body) => body.includes(secret)).length).toBeLessThanOrEqual(1);
      expect(logs.includes(secret)).toBe(false);
      expect(audit.includes(secret)).toBe(false);
    }
    expect(responses.filter((body) => body.includes(minted.key))).toHaveLength(1);
  });
});
