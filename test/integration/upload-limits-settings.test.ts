/**
 * The upload limits follow the instance settings the gateway applies (`files.max_size_bytes`,
 * `transcription.max_upload_bytes`): a lowered limit refuses an upload under the built-in 25 MiB,
 * names the effective limit, and sends nothing upstream.
 *
 * The database is shared with concurrent test files, so the lowered settings are put in this
 * gateway's settings snapshot (what `services.settings.current` answers) instead of the stored row.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { defaultInstanceSettings } from '../../src/settings/index.ts';
import type { FakeUpstream } from '../support/fake-upstream.ts';
import { startV1Gateway, type SeededPool, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream, gateway: TestGateway, seeded: SeededPool, client: OpenAI;

beforeAll(async () => {
  ({ upstream, gateway, seeded, client } = await startV1Gateway(inject('databaseUrl'), 'upload-limits'));
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});
afterEach(() => {
  // Back to the cache's own getter.
  delete (gateway.services.settings as unknown as Record<string, unknown>).current;
  upstream.reset();
});

function applySettings(files: number, transcription: number): void {
  const defaults = defaultInstanceSettings();
  const lowered = { ...defaults, files: { ...defaults.files, max_size_bytes: files }, transcription: { max_upload_bytes: transcription } };
  Object.defineProperty(gateway.services.settings, 'current', { get: () => lowered, configurable: true });
}

const backend = (path: string, init: RequestInit = {}) => fetch(`${gateway.url}${path}`, { ...init, headers: { authorization: `Bearer ${seeded.key}`, ...(init.headers as Record<string, string>) } });
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string; param: string } }).error;

async function sdkRefusal(call: Promise<unknown>): Promise<{ status: number; code: unknown; message: string }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return { status: error.status ?? 0, code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected the call to be refused');
}

describe('upload limits from the instance settings', () => {
  test('a lowered files.max_size_bytes refuses smaller /v1/files uploads and /backend-api/files creates', async () => {
    applySettings(1000, 26_214_400);
    const refused = await sdkRefusal(client.files.create({ file: await toFile(Buffer.alloc(2000, 1), 'notes.txt', { type: 'text/plain' }), purpose: 'user_data' }));
    expect(refused).toMatchObject({ status: 413, code: 'request_too_large' });
    expect(refused.message).toContain('larger than 1000 bytes');

    const create = await backend('/backend-api/files', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ file_name: 'a.txt', file_size: 1001 }) });
    expect(create.status).toBe(400);
    expect(await errorOf(create)).toMatchObject({ code: 'invalid_request', param: 'file_size', message: 'file_size must be at most 1000 bytes' });
    expect(upstream.requestsTo('/backend-api/files')).toHaveLength(0);

    // Within the limit it goes through.
    const ok = await backend('/backend-api/files', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ file_name: 'a.txt', file_size: 1000 }) });
    expect(ok.status).toBe(200);
  });

  test('a lowered transcription.max_upload_bytes refuses smaller audio on both transcription routes', async () => {
    applySettings(26_214_400, 500);
    const refused = await sdkRefusal(client.audio.transcriptions.create({ file: await toFile(Buffer.alloc(600, 1), 'clip.wav', { type: 'audio/wav' }), model: 'gpt-4o-transcribe' }));
    expect(refused).toMatchObject({ status: 413, code: 'request_too_large' });
    expect(refused.message).toContain('larger than 500 bytes');

    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(600)], { type: 'audio/webm' }), 'voice.webm');
    const backendRefused = await backend('/backend-api/transcribe', { method: 'POST', body: form });
    expect(backendRefused.status).toBe(413);
    expect(await errorOf(backendRefused)).toMatchObject({ code: 'request_too_large', param: 'file', message: 'upload is larger than 500 bytes' });
    expect(upstream.requestsTo('/backend-api/transcribe')).toHaveLength(0);

    const small = new FormData();
    small.append('file', new Blob([Buffer.alloc(400)], { type: 'audio/webm' }), 'voice.webm');
    const accepted = await backend('/backend-api/transcribe', { method: 'POST', body: small });
    expect(accepted.status).toBe(200);
    expect(upstream.requestsTo('/backend-api/transcribe')).toHaveLength(1);
  });

  test('a body past the effective limit plus framing is refused from its content-length', async () => {
    applySettings(1000, 26_214_400);
    const form = new FormData();
    form.append('purpose', 'user_data');
    form.append('file', new Blob([Buffer.alloc(2 * 1_048_576)]), 'big.bin');
    const refused = await fetch(`${gateway.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${seeded.key}` }, body: form });
    expect(refused.status).toBe(413);
    expect(await errorOf(refused)).toMatchObject({ code: 'request_too_large', message: 'upload is larger than 1000 bytes' });
    expect(upstream.requestsTo('/backend-api/files')).toHaveLength(0);
  });
});
