/**
 * The `/v1` files, audio, images and usage routes and the backend bridge routes, driven by the real
 * `openai` SDK (and raw fetch where no SDK call exists) against a gateway on PostgreSQL and the fake
 * upstream. Each asserts exactly what the fake produced, and that bad input is refused in the
 * OpenAI error envelope before anything reaches the upstream.
 */
import { sql } from 'kysely';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, test, vi } from 'vitest';
import { createPool } from '../../src/pools/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { FAKE_IMAGE_USAGE, fakeImageBase64, fakeRevisedPrompt, fakeTranscript } from '../support/fake-media.ts';
import type { FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startV1Gateway, uniqueName, type SeededPool, type TestGateway } from '../support/gateway.ts';
import { MASK_NOTE } from '../../src/gateway/bridge/images.ts';

let upstream: FakeUpstream, gateway: TestGateway, seeded: SeededPool, client: OpenAI;

beforeAll(async () => {
  ({ upstream, gateway, seeded, client } = await startV1Gateway(inject('databaseUrl'), 'media'));
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
const MASK = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 9]);

/** The SDK's error for a refused call: status and the OpenAI envelope's code and param. */
async function refusal(call: Promise<unknown>): Promise<{ status: number; code: unknown; param: unknown; type: unknown }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return { status: error.status ?? 0, code: error.code, param: error.param, type: error.type };
    throw error;
  }
  throw new Error('expected the call to be refused');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers are asserted field by field
const jsonOf = async (response: Response): Promise<Record<string, any>> => (await response.json()) as Record<string, any>;

const backend = (path: string, init: RequestInit = {}) => fetch(`${gateway.url}${path}`, { ...init, headers: { authorization: `Bearer ${seeded.key}`, ...(init.headers as Record<string, string>) } });

/** Request log rows of the test key for one endpoint, newest first (the writer is asynchronous). */
async function logged(endpoint: string) {
  await gateway.services.requestLog.flush();
  return gateway.services.db
    .selectFrom('requests')
    .select(['endpoint', 'status', 'transport', 'response_status_code', 'requested_model', 'request_metadata', 'last_error_code'])
    .where('api_key_id', '=', seeded.apiKey.id)
    .where('endpoint', '=', endpoint)
    .orderBy('admitted_at', 'desc')
    .execute();
}

async function expectLogged(endpoint: string, expected: Record<string, unknown>, routeClass: string): Promise<void> {
  await vi.waitFor(async () => {
    const [row] = await logged(endpoint);
    expect(row).toMatchObject(expected);
    expect((row!.request_metadata as { route_class?: string }).route_class).toBe(routeClass);
  }, { timeout: 5_000, interval: 50 });
}

async function recordedForm(path: string): Promise<FormData> {
  const record = upstream.requestsTo(path).at(-1)!;
  return new Response(record.bytes, { headers: { 'content-type': record.headers['content-type']! } }).formData();
}

describe('POST /v1/audio/transcriptions', () => {
  test('client.audio.transcriptions.create returns the upstream transcript without languages', async () => {
    const audio = Buffer.from('RIFF fake wave bytes \x00\x01\x02');
    const result = await client.audio.transcriptions.create({ file: await toFile(audio, 'clip.wav', { type: 'audio/wav' }), model: 'gpt-4o-transcribe', prompt: 'Codex Pooler' });
    expect(result).toEqual({ text: fakeTranscript('clip.wav', audio.length, 'Codex Pooler') });

    const form = await recordedForm('/backend-api/transcribe');
    expect(form.get('model')).toBe('gpt-4o-transcribe');
    expect(form.get('prompt')).toBe('Codex Pooler');
    const file = form.get('file') as File;
    expect(file.name).toBe('clip.wav');
    expect(Buffer.from(await file.arrayBuffer())).toEqual(audio);
    expect(upstream.requestsTo('/backend-api/transcribe')[0]!.headers.authorization).toBe(`Bearer ${upstream.accessTokenOf(seeded.accounts[0]!.accountId)}`);
    await expectLogged('/v1/audio/transcriptions', { status: 'succeeded', transport: 'http_multipart', response_status_code: 200, requested_model: 'gpt-4o-transcribe' }, 'audio_transcription');
  });

  test('keywords[] and languages[] keep their order and duplicates', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('abc')], { type: 'audio/wav' }), 'a.wav');
    form.append('model', 'gpt-transcribe');
    for (const keyword of ['pool', 'codex', 'pool']) form.append('keywords[]', keyword);
    for (const language of ['it', 'en']) form.append('languages[]', language);
    const response = await backend('/v1/audio/transcriptions', { method: 'POST', body: form });
    expect(response.status).toBe(200);
    expect(await jsonOf(response)).toEqual({ text: fakeTranscript('a.wav', 3) });
    const sent = await recordedForm('/backend-api/transcribe');
    expect(sent.getAll('keywords[]')).toEqual(['pool', 'codex', 'pool']);
    expect(sent.getAll('languages[]')).toEqual(['it', 'en']);
    expect(sent.get('model')).toBe('gpt-transcribe');
  });

  test('a wrong model, a blank keyword, an unknown field and an oversize upload never reach the upstream', async () => {
    const small = async () => toFile(Buffer.from('abc'), 'a.wav', { type: 'audio/wav' });
    expect(await refusal(client.audio.transcriptions.create({ file: await small(), model: 'whisper-1' }))).toEqual({ status: 400, code: 'invalid_model', param: 'model', type: 'invalid_request_error' });
    expect(await refusal(client.audio.transcriptions.create({ file: await small(), model: 'gpt-4o-transcribe', timestamp_granularities: ['word'] }))).toMatchObject({ status: 400, code: 'unsupported_parameter', param: 'timestamp_granularities[]' });
    const blank = new FormData();
    blank.append('file', new Blob([Buffer.from('abc')]), 'a.wav');
    blank.append('model', 'gpt-4o-transcribe');
    blank.append('keywords[]', ' ');
    const refused = await backend('/v1/audio/transcriptions', { method: 'POST', body: blank });
    expect(refused.status).toBe(400);
    expect((await jsonOf(refused)).error).toMatchObject({ code: 'invalid_request', param: 'keywords' });
    const big = await toFile(Buffer.alloc(26_214_401, 1), 'big.wav', { type: 'audio/wav' });
    expect(await refusal(client.audio.transcriptions.create({ file: big, model: 'gpt-4o-transcribe' }))).toEqual({ status: 413, code: 'request_too_large', param: 'file', type: 'invalid_request_error' });
    expect(upstream.requestsTo('/backend-api/transcribe')).toHaveLength(0);
  });
});

describe('POST /v1/images/generations and /v1/images/edits', () => {
  test('client.images.generate answers with the image the upstream turn produced', async () => {
    const prompt = 'a red fox in the snow';
    const result = await client.images.generate({ model: 'gpt-image-1', prompt, size: '1024x1024', quality: 'high' });
    expect(result.data).toEqual([{ b64_json: fakeImageBase64(prompt), revised_prompt: fakeRevisedPrompt(prompt) }]);
    expect(result.usage).toEqual(FAKE_IMAGE_USAGE);
    expect(Math.abs(result.created - Date.now() / 1000)).toBeLessThan(60);

    const sent = upstream.requestsTo('/backend-api/codex/responses').at(-1)!.body as Record<string, unknown>;
    expect(sent).toMatchObject({
      model: 'gpt-5.4',
      stream: true,
      store: false,
      tools: [{ type: 'image_generation', model: 'gpt-image-1', size: '1024x1024', quality: 'high' }],
      tool_choice: { type: 'image_generation' },
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: prompt }] }],
    });
    await expectLogged('/v1/images/generations', { status: 'succeeded', transport: 'http_json', response_status_code: 200, requested_model: 'gpt-image-1' }, 'proxy_http');
  });

  test('client.images.edit sends the images and the mask as input_image parts', async () => {
    const result = await client.images.edit({
      model: 'gpt-image-1',
      prompt: 'add a hat',
      image: await toFile(PNG, 'cat.png', { type: 'image/png' }),
      mask: await toFile(MASK, 'mask.png', { type: 'image/png' }),
    });
    const text = `add a hat\n\n${MASK_NOTE}`;
    expect(result.data).toEqual([{ b64_json: fakeImageBase64(text), revised_prompt: fakeRevisedPrompt(text) }]);
    const sent = upstream.requestsTo('/backend-api/codex/responses').at(-1)!.body as { input: { content: unknown[] }[] };
    expect(sent.input[0]!.content).toEqual([
      { type: 'input_text', text },
      { type: 'input_image', image_url: `data:image/png;base64,${PNG.toString('base64')}` },
      { type: 'input_image', image_url: `data:image/png;base64,${MASK.toString('base64')}` },
    ]);
    await expectLogged('/v1/images/edits', { status: 'succeeded', requested_model: 'gpt-image-1' }, 'proxy_http');
  });

  test('n > 1, a bad size, a missing prompt and an unknown model are refused before the upstream', async () => {
    expect(await refusal(client.images.generate({ model: 'gpt-image-1', prompt: 'x', n: 2 }))).toEqual({ status: 400, code: 'invalid_request', param: 'n', type: 'invalid_request_error' });
    expect(await refusal(client.images.generate({ model: 'gpt-image-1', prompt: 'x', size: '512x512' }))).toMatchObject({ status: 400, param: 'size' });
    expect(await refusal(client.images.generate({ model: 'gpt-image-1' } as never))).toMatchObject({ status: 400, code: 'invalid_request', param: 'prompt' });
    expect(await refusal(client.images.generate({ model: 'dall-e-3', prompt: 'x' }))).toMatchObject({ status: 400, code: 'invalid_model', param: 'model' });
    expect(await refusal(client.images.edit({ model: 'gpt-image-1', prompt: 'x', image: await toFile(PNG, 'a.png', { type: 'image/png' }), n: 3 }))).toMatchObject({ status: 400, param: 'n' });
    expect(upstream.requestsTo('/backend-api/codex/responses')).toHaveLength(0);
  });

  test('a turn without an image is a 502 image_generation_failed', async () => {
    expect(await refusal(client.images.generate({ model: 'gpt-image-1', prompt: 'no image please' }))).toEqual({ status: 502, code: 'image_generation_failed', param: undefined, type: 'server_error' });
  });

  test('a pool with image generation off refuses with 403 before reading the body', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('noimg') });
    await sql`UPDATE pool_routing_settings SET allow_image_generation = false WHERE pool_id = ${pool.id}`.execute(gateway.services.db);
    const { key } = await mintApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), { pool: pool.slug, label: 'noimg' });
    const response = await fetch(`${gateway.url}/v1/images/generations`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{not-json' });
    expect(response.status).toBe(403);
    expect((await jsonOf(response)).error.code).toBe('image_generation_disabled');
  });
});

describe('/v1/files', () => {
  test('client.files.create uploads through the bridge (finalize re-polled while retry), then list and retrieve', async () => {
    upstream.media.finalizeRetries = 2;
    const bytes = Buffer.from('line one\nline two\n');
    const created = await client.files.create({ file: await toFile(bytes, 'notes.txt', { type: 'text/plain' }), purpose: 'user_data' });
    expect(created).toMatchObject({ object: 'file', bytes: bytes.length, filename: 'notes.txt', purpose: 'user_data', status: 'processed' });
    expect(created.id).toMatch(/^file-/);
    expect(created.expires_at! - created.created_at).toBe(86_400);

    expect(upstream.requestsTo('/backend-api/files').at(-1)!.body).toEqual({ file_name: 'notes.txt', file_size: bytes.length, use_case: 'codex' });
    const put = upstream.requests.find((r) => r.method === 'PUT')!;
    expect(put.headers.authorization).toBeUndefined();
    expect(upstream.media.files.get(created.id)!.bytes).toEqual(bytes);
    expect(upstream.requestsTo(`/backend-api/files/${created.id}/uploaded`)).toHaveLength(3);

    const listed = await client.files.list();
    expect(listed.data).toContainEqual(created);
    expect(await client.files.retrieve(created.id)).toEqual(created);
    await expectLogged('/v1/files', { status: 'succeeded', transport: 'http_json', response_status_code: 200 }, 'file_upload');

    // Content and delete: the owner learns they are unsupported; another key does not see the file at all.
    expect(await refusal(client.files.content(created.id))).toMatchObject({ status: 404, code: 'unsupported_endpoint' });
    expect(await refusal(client.files.delete(created.id))).toMatchObject({ status: 404, code: 'unsupported_endpoint' });
    const other = await seedPool(gateway, upstream, 1, 'other');
    const stranger = new OpenAI({ apiKey: other.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    expect(await refusal(stranger.files.retrieve(created.id))).toMatchObject({ status: 404, code: 'file_not_found', param: 'file_id' });
    expect(await refusal(stranger.files.content(created.id))).toMatchObject({ status: 404, code: 'file_not_found' });
    expect((await stranger.files.list()).data).toEqual([]);
  });

  test('a response that names an uploaded file is served by the account holding the file', async () => {
    const team = await seedPool(gateway, upstream, 3, 'files-pinned');
    const teamClient = new OpenAI({ apiKey: team.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const created = await teamClient.files.create({ file: await toFile(Buffer.from('pinned'), 'pinned.txt', { type: 'text/plain' }), purpose: 'user_data' });
    const holder = upstream.requestsTo('/backend-api/files').at(-1)!.accountId;
    expect(team.accounts.map((a) => a.accountId)).toContain(holder);
    for (let i = 0; i < 6; i++) {
      const response = await teamClient.responses.create({
        model: 'gpt-5.4',
        input: [{ role: 'user', content: [{ type: 'input_text', text: `summarise ${i}` }, { type: 'input_file', file_id: created.id }] }],
      });
      expect(response.status).toBe('completed');
      expect(upstream.requestsTo('/backend-api/codex/responses').at(-1)!.accountId).toBe(holder);
    }
  });

  test('a bad purpose or a missing file never reaches the upstream', async () => {
    expect(await refusal(client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'evals' as never }))).toMatchObject({ status: 400, code: 'invalid_request', param: 'purpose' });
    const form = new FormData();
    form.append('purpose', 'user_data');
    const response = await backend('/v1/files', { method: 'POST', body: form });
    expect(response.status).toBe(400);
    expect((await jsonOf(response)).error).toMatchObject({ code: 'invalid_request', param: 'file' });
    expect(upstream.requestsTo('/backend-api/files')).toHaveLength(0);
  });

  test('an upstream create answer without upload_url is a 502 and stores nothing', async () => {
    upstream.media.scriptFileCreate({ status: 'success', file_id: 'file-nourl' });
    expect(await refusal(client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'user_data' }))).toMatchObject({ status: 502, code: 'upstream_file_bridge_invalid_response' });
    expect(await refusal(client.files.retrieve('file-nourl'))).toMatchObject({ status: 404, code: 'file_not_found' });
  });
});

describe('GET /v1/usage', () => {
  test("the calling key's usage document", async () => {
    await gateway.services.requestLog.flush();
    const response = await backend('/v1/usage');
    expect(response.status).toBe(200);
    const body = await jsonOf(response);
    expect(Object.keys(body).sort()).toEqual(['cached_input_tokens', 'limits', 'request_count', 'total_cost_status', 'total_cost_usd', 'total_tokens', 'upstream_limits']);
    const rows = await gateway.services.db.selectFrom('requests').select((eb) => eb.fn.countAll<string>().as('n')).where('api_key_id', '=', seeded.apiKey.id).executeTakeFirstOrThrow();
    expect(body.request_count).toBe(Number(rows.n));
    expect(body.request_count).toBeGreaterThan(0);
    expect(body.limits).toEqual([]);
    expect(body.upstream_limits.map((l: { limit_window: string }) => l.limit_window)).toEqual(['primary', 'secondary']);
  });

  test('any query parameter is refused', async () => {
    const response = await backend('/v1/usage?from=2026-01-01');
    expect(response.status).toBe(400);
    expect(await jsonOf(response)).toEqual({ error: { message: 'Unsupported parameter: from', type: 'invalid_request_error', code: 'unsupported_parameter', param: 'from' } });
  });
});

describe('unsupported /v1 routes', () => {
  test('refused with 404 before the body is parsed', async () => {
    for (const path of ['/v1/embeddings', '/v1/responses/compact', '/v1/%69mages/variations']) {
      const response = await backend(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not-json' });
      expect(response.status).toBe(404);
      expect((await jsonOf(response)).error).toMatchObject({ code: 'unsupported_endpoint', message: 'Unsupported OpenAI /v1 endpoint' });
    }
  });
});

describe('backend bridge routes', () => {
  test('POST /backend-api/files, PUT to upload_url, then finalize re-polled while retry', async () => {
    upstream.media.finalizeRetries = 1;
    const bytes = Buffer.from('codex attachment');
    const create = await backend('/backend-api/files', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ file_name: 'a.txt', file_size: bytes.length, use_case: 'codex' }) });
    expect(create.status).toBe(200);
    const created = (await jsonOf(create)) as { file_id: string; upload_url: string; status: string };
    expect(created.status).toBe('success');
    const put = await fetch(created.upload_url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: bytes });
    expect(put.status).toBe(201);
    const done = await backend(`/backend-api/files/${created.file_id}/uploaded`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(done.status).toBe(200);
    expect(await jsonOf(done)).toMatchObject({ status: 'success', file_name: 'a.txt', file_size_bytes: bytes.length });
    expect(upstream.requestsTo(`/backend-api/files/${created.file_id}/uploaded`)).toHaveLength(2);
    await expectLogged('/backend-api/files', { status: 'succeeded' }, 'file_upload');
  });

  test('file create validation: multipart, file_size too large, invalid upstream answer', async () => {
    const multipart = new FormData();
    multipart.append('file', new Blob([Buffer.from('x')]), 'x.txt');
    const refused = await backend('/backend-api/files', { method: 'POST', body: multipart });
    expect(refused.status).toBe(400);
    expect((await jsonOf(refused)).error.code).toBe('unsupported_multipart_file_create');
    const tooBig = await backend('/backend-api/files', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ file_name: 'a', file_size: 26_214_401 }) });
    expect(tooBig.status).toBe(400);
    expect((await jsonOf(tooBig)).error).toMatchObject({ code: 'invalid_request', param: 'file_size' });
    expect(upstream.requestsTo('/backend-api/files')).toHaveLength(0);

    upstream.media.scriptFileCreate({ status: 'success', upload_url: 'https://storage.example.invalid/x' });
    const invalid = await backend('/backend-api/files', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ file_name: 'a', file_size: 1 }) });
    expect(invalid.status).toBe(502);
    expect((await jsonOf(invalid)).error.code).toBe('upstream_file_bridge_invalid_response');
  });

  test('POST /backend-api/transcribe forces gpt-4o-transcribe and relays the upstream answer', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('voice')], { type: 'audio/webm' }), 'voice.webm');
    form.append('model', 'something-else');
    const response = await backend('/backend-api/transcribe', { method: 'POST', body: form });
    expect(response.status).toBe(200);
    expect(await jsonOf(response)).toEqual({ text: fakeTranscript('voice.webm', 5), languages: ['en'] });
    expect((await recordedForm('/backend-api/transcribe')).get('model')).toBe('gpt-4o-transcribe');
    await expectLogged('/backend-api/transcribe', { status: 'succeeded', transport: 'http_multipart' }, 'audio_transcription');

    const big = new FormData();
    big.append('file', new Blob([Buffer.alloc(26_214_401)]), 'big.webm');
    const tooLarge = await backend('/backend-api/transcribe', { method: 'POST', body: big });
    expect(tooLarge.status).toBe(413);
    expect((await jsonOf(tooLarge)).error.code).toBe('request_too_large');
    expect(upstream.requestsTo('/backend-api/transcribe')).toHaveLength(1);
  });

  test('native image routes are proxied as they are', async () => {
    const response = await backend('/backend-api/codex/images/generations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-image-2', prompt: 'a lighthouse', n: 1 }) });
    expect(response.status).toBe(200);
    expect((await jsonOf(response)).data).toEqual([{ b64_json: fakeImageBase64('a lighthouse'), revised_prompt: fakeRevisedPrompt('a lighthouse') }]);
    expect(upstream.requestsTo('/backend-api/codex/images/generations').at(-1)!.body).toEqual({ model: 'gpt-image-2', prompt: 'a lighthouse', n: 1 });
    await expectLogged('/backend-api/codex/images/generations', { status: 'succeeded', requested_model: 'gpt-image-2' }, 'proxy_http');
  });
});
