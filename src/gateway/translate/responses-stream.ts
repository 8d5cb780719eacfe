import type { SseEvent } from '../sse.ts';
import { redactedErrorBody, STREAM_INTERRUPTED_MESSAGE, UPSTREAM_FAILED_MESSAGE } from './errors.ts';
import { eventFrame, isObject, type JsonObject } from './json.ts';
import { isInternalType, isPreludeType, readUpstreamEvent, responseOf, upstreamFailureCode, type UpstreamEvent } from './upstream-event.ts';

/**
 * Upstream Responses SSE → public `/v1/responses` SSE (runtime spec §9.2): `event:` lines, strictly
 * increasing `sequence_number`, no `codex.*` events and no `[DONE]`, `response.done`/typeless success
 * delivered as `response.completed`, nothing after the first terminal, and a synthetic `error` event
 * when the upstream ends without a terminal. Failure events keep their code; provider text is
 * replaced (§9.9).
 */

export type ResponsesStreamState = {
  /** Last `sequence_number` written, null before the first event. */
  lastSequence: number | null;
  /** Events written so far. */
  emitted: number;
  /** A terminal (success or failure) has been written; later events are dropped. */
  terminal: 'success' | 'failure' | null;
  /** Something beyond created/in_progress has been written. */
  visibleOutput: boolean;
  /** `response.output_item.done` items by output index, to back-fill an empty terminal `output`. */
  doneItems: Map<number, JsonObject>;
};

export function createResponsesStreamState(): ResponsesStreamState {
  return { lastSequence: null, emitted: 0, terminal: null, visibleOutput: false, doneItems: new Map() };
}

const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

function nextSequence(state: ResponsesStreamState, upstream: unknown): number {
  const valid = typeof upstream === 'number' && Number.isInteger(upstream) && upstream >= 0 && upstream <= MAX_SEQUENCE;
  if (valid && (state.lastSequence === null || upstream > state.lastSequence)) return upstream;
  return state.lastSequence === null ? 0 : state.lastSequence + 1;
}

function write(state: ResponsesStreamState, type: string, data: JsonObject): string {
  const sequence = nextSequence(state, data.sequence_number);
  state.lastSequence = sequence;
  state.emitted += 1;
  const { type: _type, sequence_number: _sequence, ...rest } = data;
  return eventFrame(type, { type, sequence_number: sequence, ...rest });
}

/** Items the upstream streamed, in output order, for a terminal whose `output` came back empty. */
export function backfilledOutput(doneItems: Map<number, JsonObject>): JsonObject[] {
  return [...doneItems.entries()].sort(([a], [b]) => a - b).map(([, item]) => item);
}

function withBackfill(event: UpstreamEvent, state: ResponsesStreamState): JsonObject {
  const response = responseOf(event);
  if (!response || state.doneItems.size === 0) return event.data;
  if (Array.isArray(response.output) && response.output.length > 0) return event.data;
  return { ...event.data, response: { ...response, output: backfilledOutput(state.doneItems) } };
}

/** A failure event with the provider's message replaced; its code is kept when safe. */
function redactedFailure(event: UpstreamEvent): JsonObject {
  const { code } = redactedErrorBody(upstreamFailureCode(event)).error;
  const error = { code, message: UPSTREAM_FAILED_MESSAGE };
  if (event.type === 'error') return { type: 'error', code, message: UPSTREAM_FAILED_MESSAGE, param: null, sequence_number: event.data.sequence_number };
  // Only the response object travels on; `status_details` and top-level extras may hold provider text.
  const { status_details: _details, ...response } = responseOf(event) ?? {};
  return { type: event.type, sequence_number: event.data.sequence_number, response: { ...response, status: 'failed', error } };
}

function recordItem(event: UpstreamEvent, state: ResponsesStreamState): void {
  if (event.type !== 'response.output_item.done' || !isObject(event.data.item)) return;
  const index = typeof event.data.output_index === 'number' ? event.data.output_index : state.doneItems.size;
  state.doneItems.set(index, event.data.item);
}

/** SSE frames to write for one upstream event (none for dropped ones). */
export function toV1ResponsesEvents(event: SseEvent, state: ResponsesStreamState): string[] {
  if (state.terminal !== null) return [];
  const upstream = readUpstreamEvent(event);
  if (upstream === null || isInternalType(upstream.type)) return [];
  if (upstream.terminal === 'failure') {
    state.terminal = 'failure';
    return [write(state, upstream.type, redactedFailure(upstream))];
  }
  if (upstream.terminal === 'success') {
    state.terminal = 'success';
    return [write(state, upstream.type, withBackfill(upstream, state))];
  }
  recordItem(upstream, state);
  if (!isPreludeType(upstream.type)) state.visibleOutput = true;
  return [write(state, upstream.type, upstream.data)];
}

/**
 * Frames to write when the upstream stream ends. After a terminal: none. Otherwise one synthetic
 * `error` event (spec §9.2). When nothing was written at all (`state.emitted === 0`) the caller may
 * prefer failing over or answering a JSON error instead, since no byte reached the client.
 */
export function finishResponsesStream(state: ResponsesStreamState): string[] {
  if (state.terminal !== null) return [];
  state.terminal = 'failure';
  const error = { type: 'server_error', code: 'server_error', message: STREAM_INTERRUPTED_MESSAGE, param: null };
  return [write(state, 'error', { type: 'error', code: 'server_error', message: STREAM_INTERRUPTED_MESSAGE, param: null, error })];
}
