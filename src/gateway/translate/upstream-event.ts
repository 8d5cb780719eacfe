import type { SseEvent } from '../sse.ts';
import { failureCode } from '../upstream-events.ts';
import { isObject, type JsonObject } from './json.ts';

/**
 * One upstream Responses SSE event, read the way every `/v1` translator needs it (runtime spec
 * §5.6): JSON data, a canonical `type`, and whether it ends the turn. `response.done` and a typeless
 * object carrying an `id` are success terminals and are read as `response.completed`.
 */
export type UpstreamEvent = {
  /** Canonical type (`response.done` and typeless success become `response.completed`). */
  type: string;
  /** The event's JSON object, with `type` set to the canonical type. */
  data: JsonObject;
  terminal: 'success' | 'failure' | null;
};

const SUCCESS = new Set(['response.completed', 'response.done', 'response.incomplete']);
const FAILURE = new Set(['response.failed', 'error']);

/**
 * An SseEvent's `type` is its `event:` label, else a peek at the first `"type"` in the data, which
 * for a typeless object may be a nested item's type (`message`, `function_call`). Event types carry
 * a dot (or are `error`); item types never do, so only such a value is trusted as a label.
 */
const looksLikeEventType = (type: string | null): type is string => type !== null && (type.includes('.') || type === 'error');

/** Null for events to drop: non-JSON data (`[DONE]`), non-objects, label/type disagreement, no type. */
export function readUpstreamEvent(event: SseEvent): UpstreamEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(event.data);
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  const dataType = typeof value.type === 'string' && value.type.trim() !== '' ? value.type : null;
  const label = looksLikeEventType(event.type) ? event.type : null;
  if (dataType !== null && label !== null && dataType !== label) return null;
  const type = dataType ?? label;
  if (type === null) {
    if (typeof value.id !== 'string') return null;
    return { type: 'response.completed', data: { type: 'response.completed', response: value }, terminal: 'success' };
  }
  if (type === 'response.done') return { type: 'response.completed', data: { ...value, type: 'response.completed' }, terminal: 'success' };
  if (type === 'response.incomplete' && encodesFailure(value)) return { type: 'response.failed', data: { ...value, type: 'response.failed' }, terminal: 'failure' };
  const terminal = SUCCESS.has(type) ? 'success' : FAILURE.has(type) ? 'failure' : null;
  return { type, data: dataType === null ? { ...value, type } : value, terminal };
}

/** An incomplete response that carries an error is a failure, not a cut-short success. */
function encodesFailure(data: JsonObject): boolean {
  const response = isObject(data.response) ? data.response : null;
  return isObject(response?.error) || isObject(data.error);
}

/** The response object of a lifecycle event, when it has one. */
export function responseOf(event: UpstreamEvent): JsonObject | null {
  return isObject(event.data.response) ? event.data.response : null;
}

/** The failure's error code in the spec's lookup order (§5.6), including `incomplete_details.reason`. */
export function upstreamFailureCode(event: UpstreamEvent): string {
  const code = failureCode(event.data);
  if (code !== 'stream_error') return code;
  const response = responseOf(event);
  const incomplete = isObject(response?.incomplete_details) ? response.incomplete_details : null;
  return typeof incomplete?.reason === 'string' ? incomplete.reason : code;
}

/** `response.created`, `response.queued`, `response.in_progress`: nothing a client sees yet. */
export const isPreludeType = (type: string): boolean => type === 'response.created' || type === 'response.queued' || type === 'response.in_progress';

/** `codex.rate_limits`, `codex.response.metadata`, …: internal, never relayed to `/v1` clients. */
export const isInternalType = (type: string): boolean => type.startsWith('codex.');
