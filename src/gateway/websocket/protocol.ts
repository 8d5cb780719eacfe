import { PoolerError, errorType } from '../../errors.ts';

/**
 * The websocket transports' frame vocabulary (runtime spec §8, §9.7, §12), pure: client frames in,
 * decisions out; gateway frames built in one place. No I/O here.
 */

export type JsonObject = Record<string, unknown>;

// Close codes of §12: what a client sees when the gateway ends a socket.
export const CLOSE = {
  normal: { code: 1000, reason: 'session ended' },
  draining: { code: 1001, reason: 'websocket owner is draining' },
  idle: { code: 1002, reason: 'websocket idle timeout' },
  binary: { code: 1003, reason: 'binary frames are not supported' },
  keyInactive: { code: 1008, reason: 'api key is no longer active' },
  tooLarge: { code: 1009, reason: 'websocket frame is too large' },
  failed: { code: 1011, reason: 'websocket response task failed' },
} as const;

// Close codes a client can cause us to observe without sending them: 1005 (closed without a code)
// and 1006 (connection dropped). Together with CLOSE they are the only values the close metric keeps.
const OBSERVED_CLOSE_CODES: ReadonlySet<number> = new Set([...Object.values(CLOSE).map((c) => c.code), 1005, 1006]);

/**
 * The `code` label of the client close metric: a client may close with any code 1000-4999, so only
 * the codes of the table above (and 1005/1006) are kept; everything else is `other` (bounded cardinality).
 */
export function closeCodeLabel(code: number): string {
  return OBSERVED_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/** 64 MiB, the request body limit: a bigger frame or fragmented message closes with 1009. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/**
 * Client frames a connection may have waiting (received, not yet taken by its turn loop): once
 * either bound is reached the gateway stops reading the client's socket until the queue drains, so a
 * client pipelining large frames cannot grow the process's memory without limit (TCP pushes back on
 * it). A single frame up to MAX_FRAME_BYTES is still taken whole; reading pauses right after it.
 */
export const MAX_QUEUED_FRAMES = 8;
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/** Bytes queued by all connections of one process together: once reached, every connection pauses reading. */
export const MAX_PROCESS_QUEUED_BYTES = 256 * 1024 * 1024;
/** Past this many bytes queued to a slow client, upstream reading pauses until it drains. */
export const DOWNSTREAM_HIGH_WATER_BYTES = 1024 * 1024;
/** Ping period of both the upstream and the client sockets; a peer silent for two periods is dead. */
export const PING_INTERVAL_MS = 25_000;

export type ClientFrame =
  | { kind: 'turn'; body: JsonObject; turnId: string | null }
  | { kind: 'warmup'; body: JsonObject }
  | { kind: 'processed'; body: JsonObject }
  | { kind: 'invalid'; error: PoolerError };

const invalid = (message: string, param: string | null = null): ClientFrame => ({ kind: 'invalid', error: new PoolerError('invalid_request', message, { param }) });

/** Classifies one client text frame of the native transport (§8). */
export function parseClientFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid('websocket message must be valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return invalid('websocket message must be a JSON object');
  const body = value as JsonObject;
  if (body.type === 'response.processed') {
    if (typeof body.response_id !== 'string' || body.response_id.trim() === '') return invalid('response.processed requires response_id', 'response_id');
    return { kind: 'processed', body };
  }
  if (body.type !== 'response.create' && !('model' in body)) return invalid('websocket message type is not supported', 'type');
  // A warm-up asks the server to get ready; it never reaches the upstream (§8).
  if (body.generate === false) return { kind: 'warmup', body };
  const turnId = typeof body.turn_id === 'string' ? body.turn_id : typeof body.request_id === 'string' ? body.request_id : null;
  return { kind: 'turn', body, turnId };
}

const TURN_STATE = /^[\x20-\x7e]{1,512}$/;

/**
 * The continuity input `client_metadata["x-codex-turn-state"]` of a turn frame (spec §8, §10.1):
 * a non-blank printable value, else null.
 */
export function turnStateOf(body: JsonObject): string | null {
  const metadata = body.client_metadata;
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return null;
  const value = (metadata as JsonObject)['x-codex-turn-state'];
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return trimmed && TURN_STATE.test(trimmed) ? trimmed : null;
}

const STREAM_ID = /^[A-Za-z0-9_.-]{1,256}$/;

/** The /v1 transport's `stream_id` (§9.7): absent, valid, or the error to answer. */
export function streamIdOf(body: JsonObject): { streamId: string | null } | { error: PoolerError } {
  if (!('stream_id' in body) || body.stream_id === undefined || body.stream_id === null) return { streamId: null };
  if (typeof body.stream_id !== 'string' || !STREAM_ID.test(body.stream_id)) {
    return { error: new PoolerError('invalid_request', 'stream_id must be 1-256 characters of A-Z a-z 0-9 _ . -', { param: 'stream_id' }) };
  }
  return { streamId: body.stream_id };
}

/** `{"type":"error","status":N,"error":{…}}` (+ `stream_id` on /v1), the shape of every failed turn. */
export function errorFrame(status: number, error: JsonObject, streamId: string | null = null): string {
  return JSON.stringify({ type: 'error', status, error, ...(streamId ? { stream_id: streamId } : {}) });
}

export function poolerErrorFrame(error: PoolerError, streamId: string | null = null): string {
  return errorFrame(error.status, { ...error.details, message: error.message, type: errorType(error.code, error.status), code: error.code, param: error.param }, streamId);
}

/** The two frames answering a warm-up: no upstream call, no request row. */
export function warmupFrames(): string[] {
  const response = { id: '', usage: null, end_turn: true };
  return [JSON.stringify({ type: 'response.created', response }), JSON.stringify({ type: 'response.completed', response })];
}

/** The gateway's first frame of every native turn. */
export function metadataFrame(modelsEtag: string | null, openaiModel: string | null): string {
  const headers: Record<string, string> = {};
  if (modelsEtag) headers['x-models-etag'] = modelsEtag;
  if (openaiModel) headers['openai-model'] = openaiModel;
  return JSON.stringify({ type: 'codex.response.metadata', headers });
}

/**
 * The upstream `response.create` payload (runtime spec §5.3): `request_id`/`turn_id` stay with the
 * gateway, `type` and `instructions` get their defaults. Model rewriting is done by the caller.
 */
export function upstreamCreateFrame(body: JsonObject): JsonObject {
  const { request_id: _r, turn_id: _t, generate: _g, stream_id: _s, ...rest } = body;
  return { ...rest, type: 'response.create', instructions: typeof rest.instructions === 'string' ? rest.instructions : '' };
}

/** `response.processed` goes upstream without the gateway-only `request_id`. */
export function upstreamProcessedFrame(body: JsonObject): string {
  const { request_id: _r, ...rest } = body;
  return JSON.stringify(rest);
}

const TERMINAL_SUCCESS = new Set(['response.completed', 'response.done', 'response.incomplete']);
const TERMINAL_FAILURE = new Set(['response.failed', 'error']);
const PREVIOUS_RESPONSE_MISSES = new Set(['previous_response_not_found', 'invalid_previous_response_id']);
// Per-event `headers` maps keep only the response headers a client may see (§5.4, §8).
const CONTROL_HEADERS = new Set(['x-codex-turn-state', 'openai-model', 'x-reasoning-included', 'x-codex-safety-buffering-enabled', 'x-codex-safety-buffering-faster-model', 'x-models-etag']);
const SAFE_VALUE = /^[\x20-\x7e]{1,1024}$/;
const TYPE_PEEK = /"type"\s*:\s*"([^"]{1,128})"/;

export type UpstreamFrameKind = 'prelude' | 'output' | 'success' | 'failure';

export function peekType(text: string): string | null {
  return TYPE_PEEK.exec(text.slice(0, 256))?.[1] ?? null;
}

export function frameKind(type: string | null): UpstreamFrameKind {
  if (type && TERMINAL_SUCCESS.has(type)) return 'success';
  if (type && TERMINAL_FAILURE.has(type)) return 'failure';
  if (type === 'response.created' || type === 'response.in_progress' || type === 'codex.rate_limits' || type === 'codex.response.metadata') return 'prelude';
  return 'output';
}

/** The frame's `headers` map reduced to control headers; null when there was none. */
export function controlHeaders(headers: unknown): Record<string, string> | null {
  if (!headers || typeof headers !== 'object' || Array.isArray(headers)) return null;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (CONTROL_HEADERS.has(name.toLowerCase()) && typeof value === 'string' && SAFE_VALUE.test(value)) out[name.toLowerCase()] = value;
  }
  return out;
}

/**
 * What the native client receives for one parsed upstream event (§8): previous-response misses
 * become the error frame Codex answers by resending full context; `headers` maps are reduced.
 * Null means "relay the upstream text untouched".
 */
export function canonicalNativeFrame(event: JsonObject, failure: string | null): string | null {
  if (failure && PREVIOUS_RESPONSE_MISSES.has(failure)) {
    return errorFrame(400, { type: 'invalid_request_error', code: 'previous_response_not_found', message: 'Previous response was not found. Retrying the full request.', param: null });
  }
  if (!('headers' in event)) return null;
  const headers = controlHeaders(event.headers);
  const { headers: _dropped, ...rest } = event;
  return JSON.stringify(headers && Object.keys(headers).length ? { ...rest, headers } : rest);
}
