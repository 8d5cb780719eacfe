/**
 * The fake upstream's file bridge, transcription and image surfaces, shaped like the ChatGPT
 * backend: `POST /backend-api/transcribe` (multipart), `POST /backend-api/files` → `PUT` the bytes
 * to the returned storage URL → `POST /backend-api/files/{id}/uploaded` (answers `status:"retry"`
 * while processing), native `/backend-api/codex/images/{generations,edits}`, and a Responses turn
 * that calls the `image_generation` tool. Outputs are deterministic so tests can assert them exactly.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { newId, nowSec, sequence, sseFrame } from './fake-sse-events.ts';
import type { JsonObject } from './fake-sse-events.ts';

export const TRANSCRIBE_MODELS = ['gpt-4o-transcribe', 'gpt-transcribe'];
const FILE_SIZE_LIMIT = 26_214_400;

type Recorded = { headers: Record<string, string>; body: unknown; bytes?: Buffer; rawBody: string };
type StoredFile = { id: string; accountId: string; name: string; size: number; bytes: Buffer | null; retriesLeft: number };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

const invalid = (message: string, param: string | null) => ({ error: { message, type: 'invalid_request_error', param, code: 'invalid_request' } });

/** The transcript the fake returns for an upload: names what it heard, so tests can assert it. */
export const fakeTranscript = (fileName: string, bytes: number, prompt?: string): string =>
  `Transcript of ${fileName} (${bytes} bytes)${prompt ? ` with prompt: ${prompt}` : ''}`;

/** A tiny deterministic "PNG" (signature + digest of the prompt), base64. */
export function fakeImageBase64(prompt: string): string {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, createHash('sha256').update(prompt).digest()]).toString('base64');
}

export const fakeRevisedPrompt = (prompt: string): string => `A detailed rendering of: ${prompt}`;

/** Token use the fake reports for one generated image (`tool_usage.image_gen`). */
export const FAKE_IMAGE_USAGE = { input_tokens: 50, output_tokens: 1056, total_tokens: 1106, input_tokens_details: { text_tokens: 50, image_tokens: 0 } };

export function isImageTurn(body: JsonObject): boolean {
  return Array.isArray(body.tools) && body.tools.some((t) => isObject(t) && t.type === 'image_generation');
}

function promptOf(body: JsonObject): string {
  if (typeof body.input === 'string') return body.input;
  const texts: string[] = [];
  for (const item of Array.isArray(body.input) ? body.input : []) {
    if (!isObject(item) || !Array.isArray(item.content)) continue;
    for (const part of item.content) if (isObject(part) && part.type === 'input_text' && typeof part.text === 'string') texts.push(part.text);
  }
  return texts.join('\n');
}

async function formOf(record: Recorded): Promise<FormData | null> {
  try {
    return await new Response(record.bytes ?? Buffer.from(record.rawBody), { headers: { 'content-type': record.headers['content-type'] ?? '' } }).formData();
  } catch {
    return null;
  }
}

export class FakeMedia {
  readonly files = new Map<string, StoredFile>();
  /** How many times a finalize answers `status:"retry"` before success (per file, default 0). */
  finalizeRetries = 0;
  private fileCreateOverrides: unknown[] = [];

  /** The next `POST /backend-api/files` answers 200 with this body instead (e.g. without upload_url). */
  scriptFileCreate(body: unknown): void {
    this.fileCreateOverrides.push(body);
  }

  reset(): void {
    this.finalizeRetries = 0;
    this.fileCreateOverrides.length = 0;
  }

  async transcribe(res: ServerResponse, record: Recorded): Promise<void> {
    const form = await formOf(record);
    if (!form) return send(res, 400, invalid('request body must be multipart/form-data', null));
    const file = form.get('file');
    if (!(file instanceof File)) return send(res, 400, invalid('file is required', 'file'));
    const model = form.get('model');
    if (typeof model !== 'string' || !TRANSCRIBE_MODELS.includes(model)) return send(res, 400, invalid('model is not supported', 'model'));
    if (file.size > FILE_SIZE_LIMIT) return send(res, 413, invalid('file is too large', 'file'));
    const prompt = form.get('prompt');
    const languages = form.getAll('languages[]').filter((v): v is string => typeof v === 'string');
    send(res, 200, { text: fakeTranscript(file.name, file.size, typeof prompt === 'string' ? prompt : undefined), languages: languages.length > 0 ? languages : ['en'] });
  }

  createFile(res: ServerResponse, accountId: string, record: Recorded, baseUrl: string): void {
    const body = record.body;
    if (!isObject(body)) return send(res, 400, invalid('request body must be a JSON object', null));
    if (typeof body.file_name !== 'string' || body.file_name === '') return send(res, 400, invalid('file_name is required', 'file_name'));
    if (typeof body.file_size !== 'number' || body.file_size <= 0 || body.file_size > FILE_SIZE_LIMIT) return send(res, 400, invalid('file_size is invalid', 'file_size'));
    const override = this.fileCreateOverrides.shift();
    if (override !== undefined) return send(res, 200, override);
    const id = `file-${newId('f', 12).slice(2)}`;
    this.files.set(id, { id, accountId, name: body.file_name, size: body.file_size, bytes: null, retriesLeft: this.finalizeRetries });
    send(res, 200, { status: 'success', file_id: id, upload_url: `${baseUrl}/fake-storage/${id}?sig=${newId('sig', 8)}` });
  }

  /** `PUT` to the storage URL: no ChatGPT credentials, Azure-blob style header, exact size. */
  storeUpload(res: ServerResponse, fileId: string, record: Recorded): void {
    const file = this.files.get(fileId);
    if (!file) return send(res, 404, { error: 'BlobNotFound' });
    if (record.headers.authorization) return send(res, 400, { error: 'AuthorizationNotAllowed' });
    if (record.headers['x-ms-blob-type'] !== 'BlockBlob') return send(res, 400, { error: 'MissingRequiredHeader x-ms-blob-type' });
    const bytes = record.bytes ?? Buffer.from(record.rawBody);
    if (bytes.length !== file.size) return send(res, 400, { error: 'InvalidBlobSize' });
    file.bytes = bytes;
    res.writeHead(201, { 'content-length': '0' });
    res.end();
  }

  finalize(res: ServerResponse, accountId: string, fileId: string): void {
    const file = this.files.get(fileId);
    if (!file || file.accountId !== accountId) return send(res, 404, { detail: 'File not found' });
    if (file.bytes === null) return send(res, 400, invalid('file bytes were not uploaded', 'file_id'));
    if (file.retriesLeft > 0) {
      file.retriesLeft--;
      return send(res, 200, { status: 'retry' });
    }
    send(res, 200, { status: 'success', download_url: `https://files.example.invalid/${fileId}`, file_name: file.name, mime_type: 'application/octet-stream', file_size_bytes: file.size });
  }

  nativeImages(res: ServerResponse, record: Recorded): void {
    const body = record.body;
    if (!isObject(body) || typeof body.prompt !== 'string' || body.prompt === '') return send(res, 400, invalid('prompt is required', 'prompt'));
    send(res, 200, { created: nowSec(), data: [{ b64_json: fakeImageBase64(body.prompt), revised_prompt: fakeRevisedPrompt(body.prompt) }] });
  }

  /** A Responses stream whose output is one `image_generation_call` (or, for prompts asking `no image`, only text). */
  streamImageTurn(res: ServerResponse, body: JsonObject, headers: Record<string, string>): void {
    const prompt = promptOf(body);
    const responseId = newId('resp', 24);
    const base = { id: responseId, object: 'response', created_at: nowSec(), model: body.model, tools: body.tools, tool_choice: body.tool_choice };
    const item: JsonObject = prompt.includes('no image')
      ? { id: newId('msg', 12), type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'I cannot draw that.', annotations: [] }] }
      : { id: newId('ig', 12), type: 'image_generation_call', status: 'completed', background: 'opaque', output_format: 'png', quality: 'high', size: '1024x1024', result: fakeImageBase64(prompt), revised_prompt: fakeRevisedPrompt(prompt) };
    const usage = { input_tokens: 20, input_tokens_details: { cached_tokens: 0 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 50 };
    const events = sequence([
      { type: 'response.created', response: { ...base, status: 'in_progress', output: [] } },
      { type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', result: null } },
      { type: 'response.output_item.done', output_index: 0, item },
      { type: 'response.completed', response: { ...base, status: 'completed', output: [item], usage, tool_usage: { image_gen: FAKE_IMAGE_USAGE } } },
    ]);
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.end(events.map(sseFrame).join(''));
  }
}
