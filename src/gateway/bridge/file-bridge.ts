import { BlockList, isIP } from 'node:net';
import { PoolerError } from '../../errors.ts';
import type { AccountCall } from '../dispatch.ts';
import { isMultipartBody, singleField, singleFile, UPLOAD_FILE_LIMIT, type MultipartForm, type UploadedFile } from './multipart.ts';

/**
 * The upstream file bridge (runtime spec §1.3, §1.4): create a file (`POST /backend-api/files`),
 * `PUT` its bytes to the returned `upload_url`, then finalize (`POST /backend-api/files/{id}/uploaded`),
 * re-polled while the upstream answers `status:"retry"`. Validation and answer shaping are pure.
 */

export type FileCreate = { file_name: string; file_size: number; use_case: 'codex' };
export type CreatedFile = { fileId: string; uploadUrl: string };

export const V1_FILE_PURPOSES = ['user_data', 'assistants', 'vision', 'batch', 'fine-tune'] as const;
/** How long a file object stays listed (spec §1.4: TTL default 86,400 s). */
export const FILE_OBJECT_TTL_S = 86_400;
export const FINALIZE_POLL_MS = 250;
export const FINALIZE_BUDGET_MS = 30_000;

const FILE_ID = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * `POST /backend-api/files`: a JSON object `{file_name, file_size, use_case?}`; multipart is refused.
 * `maxBytes` is the instance's `files.max_size_bytes`.
 */
export function parseBackendFileCreate(body: unknown, maxBytes: number = UPLOAD_FILE_LIMIT): FileCreate {
  if (isMultipartBody(body)) throw new PoolerError('unsupported_multipart_file_create', 'file creation takes a JSON body {"file_name","file_size"}, not multipart');
  if (!body || typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) throw new PoolerError('invalid_request', 'request body must be a JSON object');
  const input = body as Record<string, unknown>;
  if (typeof input.file_name !== 'string' || input.file_name.trim() === '') throw new PoolerError('invalid_request', 'file_name must be a non-blank string', { param: 'file_name' });
  if (typeof input.file_size !== 'number' || !Number.isInteger(input.file_size) || input.file_size <= 0) {
    throw new PoolerError('invalid_request', 'file_size must be a positive integer', { param: 'file_size' });
  }
  if (input.file_size > maxBytes) throw new PoolerError('invalid_request', `file_size must be at most ${maxBytes} bytes`, { param: 'file_size' });
  if (input.use_case !== undefined && input.use_case !== 'codex') throw new PoolerError('invalid_request', 'use_case must be "codex"', { param: 'use_case' });
  return { file_name: input.file_name, file_size: input.file_size, use_case: 'codex' };
}

/** An upstream file id as it may appear in an upstream path. */
export function parseFileId(value: string): string {
  if (!FILE_ID.test(value)) throw new PoolerError('invalid_request', 'file id is invalid', { param: 'file_id' });
  return value;
}

// Where the gateway itself PUTs a client's bytes: never loopback, private or link-local addresses
// (cloud metadata services, cluster-internal endpoints) and only https, unless the upstream itself
// is plain http (a local development or test upstream).
const INTERNAL_ADDRESSES = new BlockList();
for (const [network, prefix] of [['127.0.0.0', 8], ['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16], ['100.64.0.0', 10], ['0.0.0.0', 8]] as const) INTERNAL_ADDRESSES.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [['::1', 128], ['fc00::', 7], ['fe80::', 10], ['::', 128]] as const) INTERNAL_ADDRESSES.addSubnet(network, prefix, 'ipv6');

/** Whether the gateway may send a client's file bytes to the upload URL the upstream returned. */
export function isSafeUploadUrl(uploadUrl: string, upstreamBaseUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(uploadUrl);
  } catch {
    return false;
  }
  if (new URL(upstreamBaseUrl).protocol === 'http:') return url.protocol === 'http:' || url.protocol === 'https:';
  if (url.protocol !== 'https:' || url.username || url.password) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return false;
  const family = isIP(host);
  if (family === 0) return true;
  const mapped = family === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1] : undefined;
  if (mapped) return !INTERNAL_ADDRESSES.check(mapped, 'ipv4');
  return !INTERNAL_ADDRESSES.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** The create answer must name the file and where its bytes go; anything else is a 502. */
export function createdFile(payload: Record<string, unknown>): CreatedFile {
  const { file_id: fileId, upload_url: uploadUrl } = payload;
  if (typeof fileId !== 'string' || !FILE_ID.test(fileId) || typeof uploadUrl !== 'string' || !/^https?:\/\//.test(uploadUrl)) {
    throw new PoolerError('upstream_file_bridge_invalid_response', 'upstream file creation did not return file_id and upload_url');
  }
  return { fileId, uploadUrl };
}

export type FinalizeClock = { now: () => number; sleep: (ms: number, signal: AbortSignal) => Promise<void> };

/**
 * Finalizes an upload on the account that created it: while the upstream answers `status:"retry"`
 * (the bytes are still being processed) asks again every 250 ms, for at most 30 s.
 */
export async function finalizeUpload(first: UpstreamReply, call: AccountCall, fileId: string, clock: FinalizeClock, signal: AbortSignal): Promise<UpstreamReply> {
  const deadline = clock.now() + FINALIZE_BUDGET_MS;
  let answer = first;
  while (answer.status < 300 && answer.body?.status === 'retry') {
    if (clock.now() + FINALIZE_POLL_MS > deadline) throw new PoolerError('upstream_timeout', 'upstream file finalize did not finish within 30 s');
    await clock.sleep(FINALIZE_POLL_MS, signal);
    answer = await call(finalizePath(fileId), {});
  }
  return answer;
}

export type UpstreamReply = { status: number; body: Record<string, unknown> | null };

export const finalizePath = (fileId: string) => `/backend-api/files/${encodeURIComponent(fileId)}/uploaded`;

/** A finalize answer that says the file is usable. */
export function finalized(answer: UpstreamReply): boolean {
  return answer.status < 300 && answer.body !== null && answer.body.status !== 'retry' && answer.body.status !== 'error' && answer.body.status !== 'failed';
}

export type V1FileUpload = { file: UploadedFile; purpose: string };

/** `POST /v1/files`: multipart `file` + `purpose`. */
export function parseV1FileUpload(form: MultipartForm): V1FileUpload {
  for (const name of [...form.fields.keys(), ...form.files.keys()]) {
    if (name !== 'file' && name !== 'purpose') throw new PoolerError('unsupported_parameter', `Unsupported parameter: ${name}`, { param: name });
  }
  const purpose = singleField(form, 'purpose');
  if (!purpose) throw new PoolerError('invalid_request', 'purpose is required', { param: 'purpose' });
  if (!(V1_FILE_PURPOSES as readonly string[]).includes(purpose)) throw new PoolerError('invalid_request', `purpose must be one of ${V1_FILE_PURPOSES.join(', ')}`, { param: 'purpose' });
  const file = singleFile(form, 'file');
  if (file.bytes.length === 0) throw new PoolerError('invalid_request', 'file is empty', { param: 'file' });
  return { file, purpose };
}

export type FileObject = { id: string; object: 'file'; bytes: number; created_at: number; filename: string; purpose: string; status: string; expires_at: number };

export function fileObject(row: { file_id: string; bytes: number | string; created_at: Date; filename: string; purpose: string; status: string; expires_at: Date }): FileObject {
  return {
    id: row.file_id,
    object: 'file',
    bytes: Number(row.bytes),
    created_at: Math.floor(row.created_at.getTime() / 1000),
    filename: row.filename,
    purpose: row.purpose,
    status: row.status,
    expires_at: Math.floor(row.expires_at.getTime() / 1000),
  };
}
