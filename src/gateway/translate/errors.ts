import { toEnvelope, type ErrorEnvelope, type PoolerError } from '../../errors.ts';
import { isObject } from './json.ts';

/**
 * `/v1` error redaction (runtime spec §9.9): upstream errors and the gateway's own 5xx/401/403/429
 * errors reach `/v1` clients as `{"error":{"message":"upstream request failed","type":"server_error",
 * "code":<c>}}`, keeping the status (an upstream 404 becomes 502). Provider text never leaks.
 */

export type V1ErrorBody = {
  error: { message: string; type: string; code: string; param?: null; upstream_status?: number };
};
export type V1ErrorReply = { status: number; body: V1ErrorBody | ErrorEnvelope };

export const UPSTREAM_FAILED_MESSAGE = 'upstream request failed';
export const STREAM_INTERRUPTED_MESSAGE = 'upstream request failed: stream interrupted before terminal response event';

const SAFE_CODE = /^[A-Za-z0-9_.-]+$/;

/** The code itself when it is safe to show (`^[A-Za-z0-9_.-]+$`, ≤ 80 chars), else null. */
export function safeErrorCode(code: unknown): string | null {
  return typeof code === 'string' && code.length <= 80 && SAFE_CODE.test(code) ? code : null;
}

/** The redacted body for a code (an unsafe code becomes `upstream_error`). */
export function redactedErrorBody(code: unknown): V1ErrorBody {
  return { error: { message: UPSTREAM_FAILED_MESSAGE, type: 'server_error', code: safeErrorCode(code) ?? 'upstream_error' } };
}

function parseBody(body: unknown): unknown {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : null;
  if (text === null) return body;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export type RedactOptions = {
  /** A streaming `/v1/responses` rejected before its stream started: the gateway's own classification. */
  beforeStream?: boolean;
  /** The request carried an `input_file`: an upstream 404 stays 404 (the file is unknown upstream). */
  inputFile?: boolean;
};

/**
 * Redacts an upstream error response (status ≥ 400) for a `/v1` client. `upstreamBody` may be raw
 * bytes, text or parsed JSON. Code: the upstream `error.code` when safe, else `upstream_error`;
 * a non-JSON or `error`-less body gives `upstream_status` (4xx) or `upstream_error` (5xx).
 */
export function redactV1Error(status: number, upstreamBody: unknown, options: RedactOptions = {}): V1ErrorReply {
  if (status === 404 && options.inputFile) {
    return { status: 404, body: { error: { code: 'upstream_status', message: UPSTREAM_FAILED_MESSAGE, type: 'invalid_request_error', upstream_status: 404 } } };
  }
  const clientStatus = status === 404 ? 502 : status;
  if (options.beforeStream) {
    const code = status === 429 ? 'upstream_rate_limited' : status < 500 ? 'upstream_status' : 'upstream_error';
    return { status: clientStatus, body: redactedErrorBody(code) };
  }
  const parsed = parseBody(upstreamBody);
  const error = isObject(parsed) ? parsed.error : undefined;
  if (!isObject(error)) return { status: clientStatus, body: redactedErrorBody(status < 500 ? 'upstream_status' : 'upstream_error') };
  return { status: clientStatus, body: redactedErrorBody(error.code) };
}

/**
 * A gateway error raised after authentication, as a `/v1` client sees it: 5xx, 401, 403 and 429
 * are redacted (the code kept); the bulkhead overload has its own body; other errors (400/404/409
 * validation, files, continuity) keep the runtime envelope.
 */
export function v1GatewayError(error: PoolerError): V1ErrorReply {
  if (error.code === 'server_is_overloaded') {
    return { status: error.status, body: { error: { message: 'gateway route class is temporarily overloaded', type: 'server_error', code: 'server_is_overloaded', param: null } } };
  }
  const redacted = error.status >= 500 || error.status === 401 || error.status === 403 || error.status === 429;
  return { status: error.status, body: redacted ? redactedErrorBody(error.code) : toEnvelope(error) };
}
