import { EventEmitter } from 'node:events';
import { describe, expect, test } from 'vitest';
import { PoolerError } from '../../errors.ts';
import { createdFile, isSafeUploadUrl, finalizeUpload, parseBackendFileCreate, parseV1FileUpload, type UpstreamReply } from './file-bridge.ts';
import { imagesAnswer, imageTurnBody, MASK_NOTE, parseImageGeneration } from './images.ts';
import { costStatus, limitUsage, refuseUsageQuery, upstreamLimits } from './key-usage.ts';
import { UploadSlots, type MultipartForm, type UploadedFile } from './multipart.ts';
import { backendTranscription, v1Transcription, v1TranscriptionAnswer } from './transcription.ts';

const file = (bytes = 3, name = 'a.wav', type = 'audio/wav'): UploadedFile => ({ name, type, bytes: Buffer.alloc(bytes, 1) });
const form = (fields: Record<string, string[]>, files: Record<string, UploadedFile[]> = { file: [file()] }): MultipartForm => ({ fields: new Map(Object.entries(fields)), files: new Map(Object.entries(files)) });

function refusedWith(run: () => unknown): { code: string; status: number; param: string | null } {
  try {
    run();
  } catch (error) {
    if (error instanceof PoolerError) return { code: error.code, status: error.status, param: error.param };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('transcription', () => {
  test('the backend route forces the model and forwards only the file and prompt', () => {
    const parts = backendTranscription(form({ model: ['whisper-1'], prompt: ['hi'], language: ['it'] }));
    expect(parts.parts.map(([name, value]) => [name, typeof value === 'string' ? value : value.name])).toEqual([['file', 'a.wav'], ['model', 'gpt-4o-transcribe'], ['prompt', 'hi']]);
  });

  test('/v1 keeps list order and duplicates, from both name styles', () => {
    const parts = v1Transcription(form({ model: ['gpt-transcribe'], 'keywords[]': ['b', 'a', 'b'], languages: ['en'] }));
    expect(parts.parts.slice(1)).toEqual([['model', 'gpt-transcribe'], ['keywords[]', 'b'], ['keywords[]', 'a'], ['keywords[]', 'b'], ['languages[]', 'en']]);
  });

  test.each([
    ['no model', {}, undefined, 'invalid_request', 'model'],
    ['an unknown model', { model: ['whisper-1'] }, undefined, 'invalid_model', 'model'],
    ['an unknown field', { model: ['gpt-4o-transcribe'], stream: ['true'] }, undefined, 'unsupported_parameter', 'stream'],
    ['a blank keyword', { model: ['gpt-4o-transcribe'], 'keywords[]': [''] }, undefined, 'invalid_request', 'keywords'],
    ['a bad temperature', { model: ['gpt-4o-transcribe'], temperature: ['hot'] }, undefined, 'invalid_request', 'temperature'],
    ['no file', { model: ['gpt-4o-transcribe'] }, {}, 'invalid_request', 'file'],
    ['an oversize file', { model: ['gpt-4o-transcribe'] }, { file: [file(26_214_401)] }, 'request_too_large', 'file'],
  ] as const)('refuses %s', (_name, fields, files, code, param) => {
    expect(refusedWith(() => v1Transcription(form(fields as Record<string, string[]>, files as Record<string, UploadedFile[]> | undefined)))).toMatchObject({ code, param });
  });

  test('the /v1 answer drops languages', () => {
    expect(v1TranscriptionAnswer({ text: 'hi', languages: ['en'], duration: 1 })).toEqual({ text: 'hi', duration: 1 });
  });
});

describe('images', () => {
  test('a generation becomes a Responses turn that must call image_generation', () => {
    const request = parseImageGeneration({ model: 'gpt-image-1', prompt: 'a fox', size: '1024x1536', background: 'transparent', n: 1, user: 'u' });
    expect(imageTurnBody(request, 'gpt-x-up')).toEqual({
      model: 'gpt-x-up',
      instructions: '',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a fox' }] }],
      tools: [{ type: 'image_generation', model: 'gpt-image-1', size: '1024x1536', quality: 'auto', background: 'transparent' }],
      tool_choice: { type: 'image_generation' },
      stream: true,
      store: false,
    });
  });

  test('an edit sends images, then the mask, with the mask note', () => {
    const png = { name: 'a.png', type: 'image/png', bytes: Buffer.from([1, 2]) };
    const mask = { name: 'm.png', type: 'image/png', bytes: Buffer.from([3]) };
    const body = imageTurnBody({ model: 'gpt-image-1', prompt: 'hat', size: 'auto', quality: 'auto', images: [png], mask }, 'm');
    expect((body.input as { content: unknown[] }[])[0]!.content).toEqual([
      { type: 'input_text', text: `hat\n\n${MASK_NOTE}` },
      { type: 'input_image', image_url: 'data:image/png;base64,AQI=' },
      { type: 'input_image', image_url: 'data:image/png;base64,Aw==' },
    ]);
  });

  test.each([
    ['n > 1', { model: 'gpt-image-1', prompt: 'x', n: 2 }, 'invalid_request', 'n'],
    ['a bad size', { model: 'gpt-image-1', prompt: 'x', size: '256x256' }, 'invalid_request', 'size'],
    ['a bad quality', { model: 'gpt-image-1', prompt: 'x', quality: 'hd' }, 'invalid_request', 'quality'],
    ['no prompt', { model: 'gpt-image-1' }, 'invalid_request', 'prompt'],
    ['no model', { prompt: 'x' }, 'invalid_request', 'model'],
    ['an unknown model', { model: 'dall-e-3', prompt: 'x' }, 'invalid_model', 'model'],
    ['url responses', { model: 'gpt-image-1', prompt: 'x', response_format: 'url' }, 'invalid_request', 'response_format'],
    ['an unknown field', { model: 'gpt-image-1', prompt: 'x', style: 'vivid' }, 'unsupported_parameter', 'style'],
    ['input_fidelity on a generation', { model: 'gpt-image-1', prompt: 'x', input_fidelity: 'high' }, 'unsupported_parameter', 'input_fidelity'],
  ] as const)('refuses %s', (_name, body, code, param) => {
    expect(refusedWith(() => parseImageGeneration(body))).toMatchObject({ code, param });
  });

  test('the answer takes image results and revised prompts; no image or a failed call is null', () => {
    const call = { type: 'image_generation_call', status: 'completed', result: 'AAAA', revised_prompt: 'better' };
    expect(imagesAnswer({ output: [call], tool_usage: { image_gen: { total_tokens: 3 } } }, 1_767_225_600_500)).toEqual({ created: 1_767_225_600, data: [{ b64_json: 'AAAA', revised_prompt: 'better' }], usage: { total_tokens: 3 } });
    expect(imagesAnswer({ output: [{ type: 'message', content: [] }] }, 0)).toBeNull();
    expect(imagesAnswer({ output: [{ ...call, status: 'failed' }] }, 0)).toBeNull();
  });
});

describe('file bridge', () => {
  test.each([
    ['a multipart body', { kind: 'multipart', contentType: 'multipart/form-data', bytes: Buffer.alloc(0) }, 'unsupported_multipart_file_create', null],
    ['a non-object body', 'text', 'invalid_request', null],
    ['a blank file_name', { file_name: ' ', file_size: 1 }, 'invalid_request', 'file_name'],
    ['a zero file_size', { file_name: 'a', file_size: 0 }, 'invalid_request', 'file_size'],
    ['a fractional file_size', { file_name: 'a', file_size: 1.5 }, 'invalid_request', 'file_size'],
    ['a file_size over 25 MiB', { file_name: 'a', file_size: 26_214_401 }, 'invalid_request', 'file_size'],
    ['another use_case', { file_name: 'a', file_size: 1, use_case: 'chat' }, 'invalid_request', 'use_case'],
  ] as const)('file create refuses %s', (_name, body, code, param) => {
    expect(refusedWith(() => parseBackendFileCreate(body))).toMatchObject({ code, param });
  });

  test('file create keeps only the three upstream fields', () => {
    expect(parseBackendFileCreate({ file_name: 'a.txt', file_size: 26_214_400, extra: 1 })).toEqual({ file_name: 'a.txt', file_size: 26_214_400, use_case: 'codex' });
  });

  test('the upstream must return file_id and upload_url', () => {
    expect(createdFile({ file_id: 'file-1', upload_url: 'https://blob/x' })).toEqual({ fileId: 'file-1', uploadUrl: 'https://blob/x' });
    expect(refusedWith(() => createdFile({ file_id: 'file-1' }))).toMatchObject({ code: 'upstream_file_bridge_invalid_response', status: 502 });
    expect(refusedWith(() => createdFile({ upload_url: 'https://blob/x' }))).toMatchObject({ code: 'upstream_file_bridge_invalid_response' });
  });

  test('the gateway PUTs file bytes only to public https upload URLs (any URL for a plain-http development upstream)', () => {
    const production = 'https://chatgpt.com';
    expect(isSafeUploadUrl('https://files.oaiusercontent.com/file-1?sig=x', production)).toBe(true);
    expect(isSafeUploadUrl('https://8.8.8.8/upload', production)).toBe(true);
    for (const blocked of [
      'http://files.oaiusercontent.com/file-1',
      'https://169.254.169.254/latest/meta-data',
      'https://127.0.0.1:9000/x',
      'https://10.1.2.3/x',
      'https://192.168.1.1/x',
      'https://localhost/x',
      'https://[::1]/x',
      'https://[::ffff:127.0.0.1]/x',
      'https://user:pw@files.example.com/x',
      'not a url',
    ]) expect(isSafeUploadUrl(blocked, production), blocked).toBe(false);
    expect(isSafeUploadUrl('http://127.0.0.1:4010/upload/file-1', 'http://127.0.0.1:4010')).toBe(true);
    expect(isSafeUploadUrl('file:///etc/passwd', 'http://127.0.0.1:4010')).toBe(false);
  });

  test('finalize re-polls every 250 ms while retry, within 30 s', async () => {
    let now = 0;
    const sleeps: number[] = [];
    const clock = { now: () => now, sleep: async (ms: number) => void (sleeps.push(ms), (now += ms)) };
    const answers: UpstreamReply[] = [{ status: 200, body: { status: 'retry' } }, { status: 200, body: { status: 'success' } }];
    const paths: string[] = [];
    const done = await finalizeUpload({ status: 200, body: { status: 'retry' } }, async (path) => (paths.push(path), answers.shift()!), 'file-1', clock, new AbortController().signal);
    expect(done.body).toEqual({ status: 'success' });
    expect(sleeps).toEqual([250, 250]);
    expect(paths).toEqual(['/backend-api/files/file-1/uploaded', '/backend-api/files/file-1/uploaded']);

    now = 0;
    await expect(finalizeUpload({ status: 200, body: { status: 'retry' } }, async () => ({ status: 200, body: { status: 'retry' } }), 'f', clock, new AbortController().signal)).rejects.toMatchObject({ code: 'upstream_timeout' });
    expect(now).toBeLessThanOrEqual(30_000);
  });

  test('/v1 upload takes file + purpose', () => {
    expect(parseV1FileUpload(form({ purpose: ['vision'] })).purpose).toBe('vision');
    expect(refusedWith(() => parseV1FileUpload(form({ purpose: ['evals'] })))).toMatchObject({ param: 'purpose' });
    expect(refusedWith(() => parseV1FileUpload(form({ purpose: ['batch'], expires_after: ['1'] })))).toMatchObject({ code: 'unsupported_parameter', param: 'expires_after' });
  });
});

describe('/v1/usage', () => {
  test('any query parameter is refused by name', () => {
    expect(refusedWith(() => refuseUsageQuery({ since: '1d' }))).toMatchObject({ code: 'unsupported_parameter', param: 'since' });
    expect(() => refuseUsageQuery({})).not.toThrow();
  });

  test('limits show their window use and what remains', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    const limits = limitUsage([{ scope: 'default', model: null, max_requests_per_minute: 5, max_tokens_per_day: 1000, max_tokens_per_week: null, max_input_tokens_per_request: null, max_output_tokens_per_request: 100 }], { requestsLastMinute: 2, tokensToday: 1200, tokensLast7Days: 5000 }, now);
    expect(limits).toEqual([
      { limit_type: 'requests', limit_window: 'minute', max_value: 5, current_value: 2, remaining_value: 3, model_filter: null, reset_at: new Date(now + 60_000).toISOString(), source: 'api_key_policy' },
      { limit_type: 'total_tokens', limit_window: 'daily', max_value: 1000, current_value: 1200, remaining_value: 0, model_filter: null, reset_at: '2026-01-02T00:00:00.000Z', source: 'api_key_policy' },
      { limit_type: 'output_tokens', limit_window: 'request', max_value: 100, current_value: null, remaining_value: null, model_filter: null, reset_at: null, source: 'api_key_policy' },
    ]);
  });

  test('cost status and upstream windows', () => {
    expect(costStatus({ requests: 0, unpriced_requests: 0 })).toBe('unpriced');
    expect(costStatus({ requests: 3, unpriced_requests: 1 })).toBe('partial');
    expect(costStatus({ requests: 3, unpriced_requests: 0 })).toBe('priced');
    const window = { used_percent: 10, limit_window_seconds: 18_000, reset_after_seconds: 60, reset_at: 1_767_225_600 };
    expect(upstreamLimits({ plan_type: 'plus', rate_limit: { allowed: true, limit_reached: false, primary_window: window, secondary_window: null } })).toEqual([
      { limit_type: 'upstream_window', limit_window: 'primary', used_percent: 10, window_seconds: 18_000, reset_at: '2026-01-01T00:00:00.000Z' },
    ]);
  });
});

describe('upload slots', () => {
  test('a process holds at most max uploads at once; a finished one frees its slot', () => {
    const slots = new UploadSlots(2);
    const first = new EventEmitter();
    const second = new EventEmitter();
    slots.take(first);
    slots.take(second);
    expect(() => slots.take(new EventEmitter())).toThrow(expect.objectContaining({ code: 'server_is_overloaded', status: 503, headers: { 'retry-after': '1' } }));
    first.emit('close');
    expect(slots.inProgress).toBe(1);
    slots.take(new EventEmitter());
    expect(slots.inProgress).toBe(2);
  });
});
