import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PoolerError } from '../../errors.ts';

/** The built-in file limit (runtime spec §1.3: 26,214,400 bytes = 25 MiB); image edits always use it. */
export const UPLOAD_FILE_LIMIT = 26_214_400;
/**
 * The largest file limit the instance settings allow (`files.max_size_bytes`,
 * `transcription.max_upload_bytes`): the upstream refuses larger files, so a setting can only lower it.
 */
export const MAX_UPLOAD_FILE_LIMIT = UPLOAD_FILE_LIMIT;
// Room for the other form fields and the multipart framing around a file at the limit.
const FRAMING_BYTES = 1_048_576;
/** No multipart body is ever read past this, whatever a route's limit says. */
const HARD_BODY_LIMIT = MAX_UPLOAD_FILE_LIMIT + FRAMING_BYTES;

/**
 * A multipart request body, read whole (bounded) so it can be validated before anything goes
 * upstream, with the file limit in force when it was read (new work sees new settings, this one keeps its own).
 */
export type MultipartBody = { kind: 'multipart'; contentType: string; bytes: Buffer; fileLimit: number };

export type UploadedFile = { name: string; type: string; bytes: Buffer };
/** `fileLimit` absent: the built-in UPLOAD_FILE_LIMIT. */
export type MultipartForm = { fields: Map<string, string[]>; files: Map<string, UploadedFile[]>; fileLimit?: number };

export function isMultipartBody(body: unknown): body is MultipartBody {
  return typeof body === 'object' && body !== null && (body as MultipartBody).kind === 'multipart';
}

const tooLarge = (limit: number) => new PoolerError('request_too_large', `upload is larger than ${limit} bytes`, { param: 'file' });

/**
 * An upload is held in memory from its first byte until its answer is sent (a few copies while it
 * is parsed and re-encoded), so only this many are in progress at once per process; more get 503
 * server_is_overloaded with Retry-After, instead of the process running out of memory before any
 * bulkhead sees them.
 */
export const MAX_CONCURRENT_UPLOADS = 8;

/** The uploads in progress in this process, shared by every route scope that reads multipart. */
export class UploadSlots {
  #inProgress = 0;
  readonly max: number;

  constructor(max = MAX_CONCURRENT_UPLOADS) {
    this.max = max;
  }

  get inProgress(): number {
    return this.#inProgress;
  }

  /** Takes a slot until `done` fires, or refuses when all are taken. */
  take(done: { once(event: 'close', listener: () => void): unknown }): void {
    if (this.#inProgress >= this.max) throw new PoolerError('server_is_overloaded', 'too many uploads in progress; retry shortly', { headers: { 'retry-after': '1' } });
    this.#inProgress++;
    done.once('close', () => this.#inProgress--);
  }
}

const isMultipartRequest = (headers: Record<string, string | string[] | undefined>) => String(headers['content-type'] ?? '').toLowerCase().startsWith('multipart/form-data');

/** The largest file a route accepts right now (from the instance settings the process applies). */
export type UploadLimit = (request: FastifyRequest) => number;

/**
 * Multipart bodies are read as bytes, at most the route's file limit plus framing (never past the
 * hard cap): a larger body is refused with 413 while it arrives, before it is parsed or anything
 * reaches the upstream. Multipart is never decompressed (spec §6.1).
 */
export function registerMultipartParser(scope: FastifyInstance, slots: UploadSlots, uploadLimit: UploadLimit): void {
  // One limit per request, taken when its body starts: a settings refresh mid-upload changes nothing.
  const limits = new WeakMap<FastifyRequest, number>();
  const limitOf = (request: FastifyRequest) => limits.get(request) ?? Math.min(uploadLimit(request), MAX_UPLOAD_FILE_LIMIT);
  scope.addHook('preParsing', async (request, reply, payload) => {
    if (!isMultipartRequest(request.headers)) return payload;
    const limit = limitOf(request);
    limits.set(request, limit);
    if (Number(request.headers['content-length'] ?? 0) > Math.min(limit + FRAMING_BYTES, HARD_BODY_LIMIT)) throw tooLarge(limit);
    slots.take(reply.raw);
    return payload;
  });
  scope.addContentTypeParser('multipart/form-data', async (request: FastifyRequest, payload: AsyncIterable<Buffer>) => {
    const limit = limitOf(request);
    const bodyLimit = Math.min(limit + FRAMING_BYTES, HARD_BODY_LIMIT);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload) {
      size += chunk.length;
      if (size > bodyLimit) throw tooLarge(limit);
      chunks.push(chunk);
    }
    const body: MultipartBody = { kind: 'multipart', contentType: String(request.headers['content-type']), bytes: Buffer.concat(chunks), fileLimit: limit };
    return body;
  });
}

/** Parses a multipart body into text fields and files (the platform's own multipart parser). */
export async function readMultipart(body: MultipartBody): Promise<MultipartForm> {
  let form: FormData;
  try {
    form = await new Response(body.bytes, { headers: { 'content-type': body.contentType } }).formData();
  } catch {
    throw new PoolerError('invalid_request', 'request body must be valid multipart form data');
  }
  const fields = new Map<string, string[]>();
  const files = new Map<string, UploadedFile[]>();
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') fields.set(name, [...(fields.get(name) ?? []), value]);
    else files.set(name, [...(files.get(name) ?? []), { name: value.name || 'upload', type: value.type || 'application/octet-stream', bytes: Buffer.from(await value.arrayBuffer()) }]);
  }
  return { fields, files, fileLimit: body.fileLimit };
}

/** Encodes fields and files as a multipart body for the upstream. */
export async function encodeMultipart(parts: readonly (readonly [string, string | UploadedFile])[]): Promise<{ contentType: string; bytes: Buffer }> {
  const form = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([new Uint8Array(value.bytes)], { type: value.type }), value.name);
  }
  const request = new Request('http://multipart.invalid/', { method: 'POST', body: form });
  return { contentType: request.headers.get('content-type')!, bytes: Buffer.from(await request.arrayBuffer()) };
}

/** The one file of a field; several, or none when required, is a 400 naming the field. */
export function singleFile(form: MultipartForm, name: string): UploadedFile {
  const files = form.files.get(name) ?? [];
  if (files.length === 0) throw new PoolerError('invalid_request', `${name} is required`, { param: name });
  if (files.length > 1) throw new PoolerError('invalid_request', `${name} must be a single file`, { param: name });
  const file = files[0]!;
  const limit = form.fileLimit ?? UPLOAD_FILE_LIMIT;
  if (file.bytes.length > limit) throw tooLarge(limit);
  return file;
}

/** The single value of a text field, or undefined; a repeated field is a 400 naming it. */
export function singleField(form: MultipartForm, name: string): string | undefined {
  const values = form.fields.get(name);
  if (!values) return undefined;
  if (values.length > 1) throw new PoolerError('invalid_request', `${name} must be given once`, { param: name });
  return values[0];
}
