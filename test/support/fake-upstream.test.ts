import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFakeUpstream, CODEX_CLIENT_ID, DEFAULT_REPLY, TOOL_CALL_ARGUMENTS, WEBSOCKET_BETA } from './fake-upstream.ts';
import type { FakeUpstream } from './fake-upstream.ts';
import { decodeJwtPayload, AUTH_CLAIM } from './fake-tokens.ts';

type Json = Record<string, any>;

interface SseEvent {
  event: string;
  data: Json;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '';
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event, data: JSON.parse(data) as Json };
    });
}

let fake: FakeUpstream;
const ACC = 'acc-1111';
const ACC2 = 'acc-2222';

function headersFor(accountId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    authorization: `Bearer ${fake.accessTokenOf(accountId)}`,
    'chatgpt-account-id': accountId,
    'content-type': 'application/json',
    ...extra,
  };
}

function turnBody(extra: Json = {}): Json {
  return {
    model: 'gpt-5.4',
    instructions: '',
    input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }],
    stream: true,
    store: false,
    ...extra,
  };
}

async function post(path: string, body: unknown, accountId = ACC, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(`${fake.url}${path}`, { method: 'POST', headers: headersFor(accountId, extra), body: JSON.stringify(body) });
}

async function refresh(refreshToken: string): Promise<Response> {
  return fetch(`${fake.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CODEX_CLIENT_ID }),
  });
}

beforeAll(async () => {
  fake = await startFakeUpstream();
  await fake.addAccount({ accountId: ACC, email: 'one@example.test' });
  await fake.addAccount({ accountId: ACC2, email: 'two@example.test', planType: 'pro', models: ['gpt-5.4'] });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

describe('fake tokens', () => {
  it('builds a Codex-shaped auth.json with JWT claims', async () => {
    const added = await fake.addAccount({ accountId: 'acc-tok', email: 'tok@example.test', planType: 'team' });
    expect(added.authJson).toMatchObject({ auth_mode: 'chatgpt', OPENAI_API_KEY: null, tokens: { account_id: 'acc-tok' } });
    expect(typeof added.authJson.last_refresh).toBe('string');
    const id = decodeJwtPayload(added.idToken);
    expect(id.email).toBe('tok@example.test');
    expect(id[AUTH_CLAIM]).toMatchObject({ chatgpt_account_id: 'acc-tok', chatgpt_plan_type: 'team' });
    const access = decodeJwtPayload(added.accessToken);
    expect(access.client_id).toBe(CODEX_CLIENT_ID);
    expect(access.exp).toBeGreaterThan(Date.now() / 1000 + 3000);
  });
});

describe('responses', () => {
  it('streams the real SSE event sequence with quota headers', async () => {
    const res = await post('/backend-api/codex/responses', turnBody(), ACC, { 'x-codex-turn-state': 'ts-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('x-codex-primary-window-minutes')).toBe('300');
    expect(res.headers.get('x-codex-secondary-window-minutes')).toBe('10080');
    expect(res.headers.get('x-codex-primary-used-percent')).toBe('10');
    expect(res.headers.get('x-codex-turn-state')).toBe('ts-1');
    expect(res.headers.get('openai-model')).toBe('gpt-5.4');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const events = parseSse(await res.text());
    const types = events.map((e) => e.event);
    expect(types.slice(0, 5)).toEqual([
      'response.created',
      'response.in_progress',
      'codex.rate_limits',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(types.filter((t) => t === 'response.output_text.delta').length).toBeGreaterThanOrEqual(2);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    events.forEach((e, i) => {
      expect(e.data.type).toBe(e.event);
      expect(e.data.sequence_number).toBe(i);
    });
    const text = events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join('');
    expect(text).toBe(DEFAULT_REPLY);
    const completed = events.at(-1)!.data.response;
    expect(completed.status).toBe('completed');
    expect(completed.output[0].content[0]).toEqual({ type: 'output_text', text: DEFAULT_REPLY, annotations: [] });
    expect(completed.usage.total_tokens).toBe(completed.usage.input_tokens + completed.usage.output_tokens);
    expect(events[2]!.data.rate_limits.secondary.window_minutes).toBe(10080);
    expect(fake.requests[0]!.accountId).toBe(ACC);
    expect(fake.requests[0]!.headers['x-codex-turn-state']).toBe('ts-1');
  });

  it('emits a reasoning item when encrypted reasoning is included, and a function call on call_tool', async () => {
    const body = turnBody({
      include: ['reasoning.encrypted_content'],
      tools: [{ type: 'function', name: 'search', parameters: { type: 'object', properties: {} } }],
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'please call_tool' }] }],
    });
    const events = parseSse(await (await post('/backend-api/codex/responses', body)).text());
    const argDeltas = events.filter((e) => e.event === 'response.function_call_arguments.delta');
    expect(argDeltas.length).toBeGreaterThanOrEqual(2);
    expect(argDeltas.map((e) => e.data.delta).join('')).toBe(TOOL_CALL_ARGUMENTS);
    const output = events.at(-1)!.data.response.output;
    expect(output[0]).toMatchObject({ type: 'reasoning' });
    expect(typeof output[0].encrypted_content).toBe('string');
    expect(output[1]).toMatchObject({ type: 'function_call', name: 'search', arguments: TOOL_CALL_ARGUMENTS, status: 'completed' });
    expect(output[1].call_id).toMatch(/^call_/);
    expect(events.at(-1)!.data.response.usage.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
  });

  it('answers non-stream requests with the final JSON response and counts cached tokens', async () => {
    const first = (await (await post('/backend-api/codex/responses', turnBody({ stream: false, prompt_cache_key: 'k1' }))).json()) as Json;
    expect(first).toMatchObject({ object: 'response', status: 'completed' });
    expect(first.usage.input_tokens_details.cached_tokens).toBe(0);
    const second = (await (await post('/backend-api/codex/responses', turnBody({ stream: false, prompt_cache_key: 'k1' }))).json()) as Json;
    expect(second.usage.input_tokens_details.cached_tokens).toBeGreaterThan(0);
  });

  it('rejects what the real backend rejects', async () => {
    const unknown = await post('/backend-api/codex/responses', turnBody({ model: 'gpt-5.4-mini' }), ACC2);
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as Json).detail).toContain('not supported');
    const temp = await post('/backend-api/codex/responses', turnBody({ temperature: 0.2 }));
    expect(temp.status).toBe(400);
  });

  it('compacts', async () => {
    const res = await post('/backend-api/codex/responses/compact', { model: 'gpt-5.4', input: [{ type: 'message', role: 'user', content: 'x' }] });
    const body = (await res.json()) as Json;
    expect(body.output[0]).toMatchObject({ type: 'compaction' });
    expect(body.usage.input_tokens).toBeGreaterThan(0);
    const empty = await post('/backend-api/codex/responses/compact', { model: 'gpt-5.4', input: [] });
    expect(empty.status).toBe(400);
  });
});

describe('auth', () => {
  it('rejects unknown and expired tokens', async () => {
    const bad = await fetch(`${fake.url}/backend-api/codex/responses`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope', 'chatgpt-account-id': ACC, 'content-type': 'application/json' },
      body: JSON.stringify(turnBody()),
    });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as Json).error.code).toBe('invalid_api_key');
    const acc = await fake.addAccount({ accountId: 'acc-exp', email: 'exp@example.test' });
    fake.expireAccessToken('acc-exp');
    const expired = await fetch(`${fake.url}/backend-api/codex/models?client_version=0.149.0`, {
      headers: { authorization: `Bearer ${acc.accessToken}`, 'chatgpt-account-id': 'acc-exp' },
    });
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as Json).error.code).toBe('token_expired');
  });

  it('rotates refresh tokens and rejects reuse and revocation', async () => {
    const acc = await fake.addAccount({ accountId: 'acc-rt', email: 'rt@example.test' });
    const ok = await refresh(acc.refreshToken);
    expect(ok.status).toBe(200);
    const tokens = (await ok.json()) as Json;
    expect(tokens.refresh_token).not.toBe(acc.refreshToken);
    expect(tokens.access_token).toBe(fake.accessTokenOf('acc-rt'));
    expect(tokens.token_type).toBe('Bearer');
    expect(decodeJwtPayload(tokens.id_token as string).email).toBe('rt@example.test');
    const reused = await refresh(acc.refreshToken);
    expect(reused.status).toBe(401);
    expect(((await reused.json()) as Json).error.code).toBe('refresh_token_reused');
    const unknown = await refresh('rt_unknown');
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as Json).error).toBe('invalid_grant');
    fake.revokeRefreshToken('acc-rt');
    const revoked = await refresh(tokens.refresh_token as string);
    expect(revoked.status).toBe(401);
    expect(fake.tokenCalls).toBe(4);
    const form = fake.requests[0]!.body as Json;
    expect(form).toMatchObject({ grant_type: 'refresh_token', client_id: CODEX_CLIENT_ID });
  });

  it('exchanges a scripted authorization code', async () => {
    fake.scriptAuthorizationCode('code-1', ACC2);
    const res = await fetch(`${fake.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'code-1', client_id: CODEX_CLIENT_ID, code_verifier: 'v', redirect_uri: 'http://localhost:1455/auth/callback' }),
    });
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as Json;
    expect(tokens.access_token).toBe(fake.accessTokenOf(ACC2));
    expect(fake.authCodeCalls).toBe(1);
  });
});

describe('fault injection', () => {
  it('scripts a 429 then recovers', async () => {
    fake.script(ACC, { kind: 'status', status: 429 });
    const limited = await post('/backend-api/codex/responses', turnBody());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-codex-primary-used-percent')).toBe('10');
    const body = (await limited.json()) as Json;
    expect(body.error).toMatchObject({ code: 'usage_limit_reached', type: 'usage_limit_reached', plan_type: 'plus' });
    expect(body.error.resets_in_seconds).toBeGreaterThan(0);
    const ok = await post('/backend-api/codex/responses', turnBody());
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it('scripts stream failures, early EOF and refused connections', async () => {
    fake.script(ACC, { kind: 'first-event-failure', code: 'server_is_overloaded' });
    const first = parseSse(await (await post('/backend-api/codex/responses', turnBody())).text());
    expect(first).toHaveLength(1);
    expect(first[0]!.data.response.error.code).toBe('server_is_overloaded');

    fake.script(ACC, { kind: 'stream-failure', code: 'usage_limit_reached' });
    const mid = parseSse(await (await post('/backend-api/codex/responses', turnBody())).text());
    expect(mid.map((e) => e.event)).toEqual(['response.created', 'response.in_progress', 'codex.rate_limits', 'response.failed']);

    fake.script(ACC, { kind: 'eof-after-delta' });
    const eof = parseSse(await (await post('/backend-api/codex/responses', turnBody())).text());
    expect(eof.at(-1)!.event).toBe('response.output_text.delta');

    fake.script(ACC, { kind: 'refuse-connection' });
    await expect(post('/backend-api/codex/responses', turnBody())).rejects.toThrow();

    fake.script(ACC, { kind: 'non-json' });
    expect(await (await post('/backend-api/codex/responses', turnBody())).text()).toBe('not json');
  });

  it('stalls before headers and mid-stream', async () => {
    fake.script(ACC, { kind: 'stall', ms: 150 });
    let t0 = Date.now();
    await (await post('/backend-api/codex/responses', turnBody())).text();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    fake.script(ACC, { kind: 'stall-mid-stream', ms: 150 });
    t0 = Date.now();
    const res = await post('/backend-api/codex/responses', turnBody());
    expect(Date.now() - t0).toBeLessThan(140);
    const events = parseSse(await res.text());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(events.at(-1)!.event).toBe('response.completed');
  });
});

describe('models and usage', () => {
  it('serves the model catalog', async () => {
    const res = await fetch(`${fake.url}/backend-api/codex/models?client_version=0.149.0`, { headers: headersFor(ACC) });
    const body = (await res.json()) as Json;
    expect(body.models.map((m: Json) => m.slug)).toEqual(['gpt-5.4', 'gpt-5.4-mini', 'gpt-5.3-codex']);
    expect(body.models[0]).toMatchObject({ visibility: 'list', supported_in_api: true, context_window: 272000 });
    expect(fake.requests[0]!.query.client_version).toBe('0.149.0');
  });

  it('serves usage reflecting setQuota on both paths', async () => {
    const resetAt = Math.floor(Date.now() / 1000) + 600;
    fake.setQuota(ACC2, { primaryUsedPercent: 100, primaryResetAt: resetAt });
    for (const path of ['/backend-api/wham/usage', '/backend-api/codex/usage']) {
      const body = (await (await fetch(`${fake.url}${path}`, { headers: headersFor(ACC2) })).json()) as Json;
      expect(body.plan_type).toBe('pro');
      expect(body.rate_limit).toMatchObject({ allowed: false, limit_reached: true });
      expect(body.rate_limit.primary_window).toMatchObject({ used_percent: 100, limit_window_seconds: 18000, reset_at: resetAt });
      expect(body.rate_limit.secondary_window.limit_window_seconds).toBe(604800);
      expect(body.credits).toEqual({ has_credits: false, unlimited: false, balance: '0' });
    }
    fake.setQuota(ACC2, { primaryUsedPercent: 10 });
  });

  it('404s anything else', async () => {
    const res = await fetch(`${fake.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });
});

describe('websocket', () => {
  it('streams the same events as JSON frames', async () => {
    const ws = new WebSocket(`${fake.url.replace('http', 'ws')}/backend-api/codex/responses`, {
      headers: { authorization: `Bearer ${fake.accessTokenOf(ACC)}`, 'chatgpt-account-id': ACC, 'openai-beta': WEBSOCKET_BETA },
    });
    let upgrade: Json = {};
    ws.once('upgrade', (res) => {
      upgrade = res.headers as Json;
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expect(upgrade['x-codex-turn-state']).toBeTruthy();
    expect(upgrade['x-codex-primary-window-minutes']).toBe('300');
    const frames: Json[] = [];
    const done = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Json;
        frames.push(frame);
        if (frame.type === 'response.completed') resolve();
      });
    });
    ws.send(JSON.stringify({ type: 'response.create', ...turnBody() }));
    await done;
    expect(frames[0]!.type).toBe('response.created');
    expect(frames.map((f) => f.sequence_number)).toEqual(frames.map((_, i) => i));
    ws.close();
    expect(fake.requests.some((r) => r.method === 'WS' && r.accountId === ACC)).toBe(true);
  });

  it('rejects upgrades without the beta header', async () => {
    const ws = new WebSocket(`${fake.url.replace('http', 'ws')}/backend-api/codex/responses`, {
      headers: { authorization: `Bearer ${fake.accessTokenOf(ACC)}`, 'chatgpt-account-id': ACC },
    });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    expect(status).toBe(400);
  });
});
