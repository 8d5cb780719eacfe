import type { FastifyInstance } from 'fastify';
import { PoolerError } from '../../errors.ts';

/** Largest file the bridge accepts (runtime spec §1.3: 26,214,400 bytes = 25 MiB). */
export const UPLOAD_FILE_LIMIT = 26_214_400;
// Room for the other form fields and the multipart framing around a file at the limit.
const MULTIPART_BODY_LIMIT = UPLOAD_FILE_LIMIT + 1_048_576;

/** A multipart request body, read whole (bounded) so it can be validated before anything goes upstream. */
export type MultipartBody = { kind: 'multipart'; contentType: string; bytes: Buffer };

export type UploadedFile = { name: string; type: string; bytes: Buffer };
export type MultipartForm = { fields: Map<string, string[]>; files: Map<string, UploadedFile[]> };

export function isMultipartBody(body: unknown): body is MultipartBody {
  return typeof body === 'object' && body !== null && (body as MultipartBody).kind === 'multipart';
}

const tooLarge = () => new PoolerError('request_too_large', `upload is larger than ${UPLOAD_FILE_LIMIT} bytes`, { param: 'file' });

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

/**
 * Multipart bodies are read as bytes, at most the upload limit plus framing: a larger body is
 * refused with 413 while it arrives, before it is parsed or anything reaches the upstream.
 * Multipart is never decompressed (spec §6.1).
 */
export function registerMultipartParser(scope: FastifyInstance, slots: UploadSlots): void {
  scope.addHook('preParsing', async (request, reply, payload) => {
    if (!isMultipartRequest(request.headers)) return payload;
    if (Number(request.headers['content-length'] ?? 0) > MULTIPART_BODY_LIMIT) throw tooLarge();
    slots.take(reply.raw);
    return payload;
  });
  scope.addContentTypeParser('multipart/form-data', async (request: { headers: Record<string, string | string[] | undefined> }, payload: AsyncIterable<Buffer>) => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload) {
      size += chunk.length;
      if (size > MULTIPART_BODY_LIMIT) throw tooLarge();
      chunks.push(chunk);
    }
    const body: MultipartBody = { kind: 'multipart', contentType: String(request.headers['content-type']), bytes: Buffer.concat(chunks) };
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
  return { fields, files };
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
  if (file.bytes.length > UPLOAD_FILE_LIMIT) throw tooLarge();
  return file;
}

/** The single value of a text field, or undefined; a repeated field is a 400 naming it. */
export function singleField(form: MultipartForm, name: string): string | undefined {
  const values = form.fields.get(name);
  if (!values) return undefined;
  if (values.length > 1) throw new PoolerError('invalid_request', `${name} must be given once`, { param: name });
  return values[0];
}
