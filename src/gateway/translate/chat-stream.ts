import type { SseEvent } from '../sse.ts';
import { chatToolCall, chatUsage, createdOf, defaultChatId, finishReason, idOf, incompleteReasonOf, type ChatClock } from './chat-completion.ts';
import { redactedErrorBody, STREAM_INTERRUPTED_MESSAGE } from './errors.ts';
import { dataFrame, isObject, type JsonObject } from './json.ts';
import { isInternalType, readUpstreamEvent, responseOf, upstreamFailureCode, type UpstreamEvent } from './upstream-event.ts';

/**
 * Upstream Responses SSE → Chat Completions chunks (runtime spec §9.3 streaming). The role chunk is
 * sent with the first visible output (or the success terminal), so a failure before any output is
 * exactly one error frame. Tool calls get a stable `index` in the order they appear; their arguments
 * (function) or input (custom) stream as deltas, and whatever a `.done` or final item holds beyond
 * what was streamed is sent once. Unknown and `codex.*` events are ignored.
 */

type ToolCallState = { index: number; kind: 'function' | 'custom'; sent: string };

export type ChatStreamState = {
  readonly model: string;
  readonly includeUsage: boolean;
  readonly clock: Required<ChatClock>;
  /** Shared chunk fields, fixed by the first chunk. */
  meta: { id: string; created: number; model: string; service_tier?: string } | null;
  /** The last response object seen (created/in_progress), for the shared fields. */
  response: JsonObject | null;
  roleSent: boolean;
  /** Tool calls announced so far (the next call's `index`). */
  toolCalls: number;
  /** A terminal, an error frame or `[DONE]` has been written; later events are dropped. */
  finished: boolean;
  /** Tool calls by output item id and by output index. */
  calls: Map<string, ToolCallState>;
  /** Message items whose text reached the client (no re-send from `.done` events). */
  textItems: Set<string>;
  refused: boolean;
};

export type ChatStreamOptions = { model: string; includeUsage: boolean } & ChatClock;

export function createChatStreamState(options: ChatStreamOptions): ChatStreamState {
  return {
    model: options.model,
    includeUsage: options.includeUsage,
    clock: { now: options.now ?? Date.now, generateId: options.generateId ?? defaultChatId },
    meta: null,
    response: null,
    roleSent: false,
    toolCalls: 0,
    finished: false,
    calls: new Map(),
    textItems: new Set(),
    refused: false,
  };
}

function chunk(state: ChatStreamState, choices: JsonObject[], extra: JsonObject = {}): string {
  if (state.meta === null) {
    const response = state.response;
    const model = typeof response?.model === 'string' && response.model !== '' ? response.model : state.model;
    state.meta = { id: idOf(response, state.clock.generateId), created: createdOf(response, state.clock.now), model };
    if (typeof response?.service_tier === 'string') state.meta.service_tier = response.service_tier;
  }
  return dataFrame({ id: state.meta.id, object: 'chat.completion.chunk', created: state.meta.created, model: state.meta.model, ...(state.meta.service_tier ? { service_tier: state.meta.service_tier } : {}), choices, ...extra });
}

/** The role chunk, once. */
function role(state: ChatStreamState): string[] {
  if (state.roleSent) return [];
  state.roleSent = true;
  return [chunk(state, [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }])];
}

/** A delta chunk for choice 0, preceded by the role chunk the first time. */
function delta(state: ChatStreamState, fields: JsonObject): string[] {
  return [...role(state), chunk(state, [{ index: 0, delta: fields, finish_reason: null }])];
}

const itemKey = (data: JsonObject): string | null =>
  typeof data.item_id === 'string' ? data.item_id : typeof data.output_index === 'number' ? `#${data.output_index}` : null;

function callFor(state: ChatStreamState, data: JsonObject): ToolCallState | undefined {
  const byId = typeof data.item_id === 'string' ? state.calls.get(data.item_id) : undefined;
  return byId ?? (typeof data.output_index === 'number' ? state.calls.get(`#${data.output_index}`) : undefined);
}

/** Registers a call item (first sight sends id, type and name) and sends any text not yet sent. */
function callItem(state: ChatStreamState, item: JsonObject, outputIndex: unknown): string[] {
  const kind = item.type === 'function_call' ? 'function' : item.type === 'custom_tool_call' ? 'custom' : null;
  if (kind === null) return [];
  const full = kind === 'function' ? item.arguments : item.input;
  let call = (typeof item.id === 'string' ? state.calls.get(item.id) : undefined) ?? (typeof outputIndex === 'number' ? state.calls.get(`#${outputIndex}`) : undefined);
  if (call === undefined) {
    call = { index: state.toolCalls++, kind, sent: typeof full === 'string' ? full : '' };
    if (typeof item.id === 'string') state.calls.set(item.id, call);
    if (typeof outputIndex === 'number') state.calls.set(`#${outputIndex}`, call);
    return delta(state, { tool_calls: [chatToolCall(item, call.index)] });
  }
  return typeof full === 'string' ? remainder(state, call, full) : [];
}

function argumentDelta(state: ChatStreamState, call: ToolCallState, text: string): string[] {
  if (text === '') return [];
  call.sent += text;
  const body = call.kind === 'function' ? { function: { arguments: text } } : { custom: { input: text } };
  return delta(state, { tool_calls: [{ index: call.index, ...body }] });
}

/** What a `.done` value adds to the streamed prefix (nothing when it repeats it). */
function remainder(state: ChatStreamState, call: ToolCallState, full: string): string[] {
  if (full.length <= call.sent.length || !full.startsWith(call.sent)) return [];
  return argumentDelta(state, call, full.slice(call.sent.length));
}

function text(state: ChatStreamState, data: JsonObject, value: unknown, field: 'content' | 'refusal'): string[] {
  if (typeof value !== 'string' || value === '') return [];
  state.textItems.add(itemKey(data) ?? '');
  if (field === 'refusal') state.refused = true;
  return delta(state, { [field]: value });
}

/** Text of a finished message item that never streamed (an upstream that skipped the deltas). */
function unsentMessage(state: ChatStreamState, item: JsonObject): string[] {
  if (item.type !== 'message' || typeof item.id !== 'string' || state.textItems.has(item.id) || !Array.isArray(item.content)) return [];
  const frames: string[] = [];
  for (const part of item.content) {
    if (!isObject(part)) continue;
    if (part.type === 'output_text') frames.push(...text(state, { item_id: item.id }, part.text, 'content'));
    if (part.type === 'refusal') frames.push(...text(state, { item_id: item.id }, part.refusal, 'refusal'));
  }
  return frames;
}

function errorFrame(state: ChatStreamState, body: JsonObject): string[] {
  state.finished = true;
  return [dataFrame(body)];
}

function success(state: ChatStreamState, event: UpstreamEvent): string[] {
  const response = responseOf(event) ?? {};
  state.response = { ...state.response, ...response };
  const frames: string[] = [];
  for (const [i, item] of (Array.isArray(response.output) ? response.output : []).entries()) {
    if (isObject(item)) frames.push(...callItem(state, item, i), ...unsentMessage(state, item));
  }
  frames.push(...role(state));
  const status = response.status ?? (event.type === 'response.incomplete' ? 'incomplete' : undefined);
  const finish = finishReason({ status, incompleteReason: incompleteReasonOf(response), hasToolCalls: state.toolCalls > 0, refused: state.refused });
  frames.push(chunk(state, [{ index: 0, delta: {}, finish_reason: finish }]));
  const usage = state.includeUsage ? chatUsage(response.usage) : null;
  if (usage) frames.push(chunk(state, [], { usage }));
  frames.push(dataFrame('[DONE]'));
  state.finished = true;
  return frames;
}

/** `data:` frames to write for one upstream event. */
export function toChatChunks(event: SseEvent, state: ChatStreamState): string[] {
  if (state.finished) return [];
  const upstream = readUpstreamEvent(event);
  if (upstream === null || isInternalType(upstream.type)) return [];
  if (upstream.terminal === 'failure') return errorFrame(state, redactedErrorBody(upstreamFailureCode(upstream)));
  if (upstream.terminal === 'success') return success(state, upstream);
  const { data } = upstream;
  switch (upstream.type) {
    case 'response.created':
    case 'response.in_progress':
    case 'response.queued':
      if (isObject(data.response)) state.response = data.response;
      return [];
    case 'response.output_text.delta':
      return text(state, data, data.delta, 'content');
    case 'response.output_text.done':
      return state.textItems.has(itemKey(data) ?? '') ? [] : text(state, data, data.text, 'content');
    case 'response.refusal.delta':
      return text(state, data, data.delta, 'refusal');
    case 'response.refusal.done':
      return state.textItems.has(itemKey(data) ?? '') ? [] : text(state, data, data.refusal, 'refusal');
    case 'response.output_item.added':
      return isObject(data.item) ? callItem(state, data.item, data.output_index) : [];
    case 'response.output_item.done':
      return isObject(data.item) ? [...callItem(state, data.item, data.output_index), ...unsentMessage(state, data.item)] : [];
    case 'response.function_call_arguments.delta':
    case 'response.custom_tool_call_input.delta': {
      const call = callFor(state, data);
      return call && typeof data.delta === 'string' ? argumentDelta(state, call, data.delta) : [];
    }
    case 'response.function_call_arguments.done':
    case 'response.custom_tool_call_input.done': {
      const call = callFor(state, data);
      const full = upstream.type === 'response.function_call_arguments.done' ? data.arguments : data.input;
      return call && typeof full === 'string' ? remainder(state, call, full) : [];
    }
    default:
      return [];
  }
}

/**
 * Frames to write when the upstream stream ends: none after a terminal; otherwise the synthetic
 * interrupted-stream error (no `[DONE]`). With nothing written yet (`!state.roleSent`) the caller
 * may fail over or answer a JSON error instead.
 */
export function finishChatStream(state: ChatStreamState): string[] {
  if (state.finished) return [];
  return errorFrame(state, { error: { message: STREAM_INTERRUPTED_MESSAGE, type: 'server_error', code: 'server_error', param: null } });
}
