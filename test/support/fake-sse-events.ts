/**
 * Builders for the Responses event sequences the fake ChatGPT Codex backend
 * emits (over SSE and over the websocket transport).
 */
import { randomBytes } from 'node:crypto';

export type JsonObject = Record<string, unknown>;

export interface QuotaState {
  primaryUsedPercent: number;
  secondaryUsedPercent: number;
  /** unix seconds */
  primaryResetAt: number;
  /** unix seconds */
  secondaryResetAt: number;
}

export interface Usage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type OutputPlan = { kind: 'text'; text: string } | { kind: 'function_call'; name: string; arguments: string };

export interface ResponsePlan {
  responseId: string;
  createdAt: number;
  model: string;
  planType: string;
  /** the (upstream) request body, echoed into the response object */
  request: JsonObject;
  output: OutputPlan;
  /** emit a leading reasoning item carrying encrypted_content */
  reasoning: boolean;
  usage: Usage;
  quota: QuotaState;
}

export const newId = (prefix: string, bytes = 12): string => `${prefix}_${randomBytes(bytes).toString('hex')}`;
export const nowSec = (): number => Math.floor(Date.now() / 1000);
const REASONING_TOKENS = 8;

/** Split a string into `parts` (>= 2 when length allows) contiguous chunks. */
export function splitChunks(text: string, parts = 3): string[] {
  const n = Math.max(1, Math.min(parts, text.length));
  const size = Math.ceil(text.length / n);
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks.length > 0 ? chunks : [''];
}

export function makeUsage(requestBytes: number, outputText: string, reasoning: boolean, cacheHit: boolean): Usage {
  const input = Math.max(1, Math.ceil(requestBytes / 4));
  const reasoningTokens = reasoning ? REASONING_TOKENS : 0;
  const output = Math.max(1, Math.ceil(outputText.length / 4)) + reasoningTokens;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cacheHit ? Math.floor(input * 0.8) : 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: input + output,
  };
}

function reasoningItem(id: string, done: boolean): JsonObject {
  const item: JsonObject = { id, type: 'reasoning', summary: [] };
  if (done) item.encrypted_content = `gAAAAA${randomBytes(48).toString('base64url')}`;
  return item;
}

function messageItem(id: string, text: string | null): JsonObject {
  return {
    id,
    type: 'message',
    role: 'assistant',
    status: text === null ? 'in_progress' : 'completed',
    content: text === null ? [] : [{ type: 'output_text', text, annotations: [] }],
  };
}

function functionCallItem(id: string, callId: string, name: string, args: string | null): JsonObject {
  return {
    id,
    type: 'function_call',
    status: args === null ? 'in_progress' : 'completed',
    call_id: callId,
    name,
    arguments: args ?? '',
  };
}

/** The `response` object; `output` empty and status in_progress unless final. */
export function responseObject(plan: ResponsePlan, status: string, output: JsonObject[], usage: Usage | null): JsonObject {
  const req = plan.request;
  return {
    id: plan.responseId,
    object: 'response',
    created_at: plan.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: null,
    model: plan.model,
    output,
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: req.previous_response_id ?? null,
    prompt_cache_key: req.prompt_cache_key ?? null,
    reasoning: req.reasoning ?? { effort: null, summary: null },
    service_tier: req.service_tier ?? 'default',
    store: req.store ?? false,
    text: req.text ?? { format: { type: 'text' } },
    tool_choice: req.tool_choice ?? 'auto',
    tools: Array.isArray(req.tools) ? req.tools : [],
    usage,
    metadata: {},
  };
}

export function rateLimitsEvent(quota: QuotaState, planType: string): JsonObject {
  const now = nowSec();
  const window = (used: number, minutes: number, resetAt: number): JsonObject => ({
    used_percent: used,
    window_minutes: minutes,
    reset_after_seconds: Math.max(0, resetAt - now),
    resets_at: resetAt,
  });
  return {
    type: 'codex.rate_limits',
    plan_type: planType,
    rate_limits: {
      allowed: quota.primaryUsedPercent < 100 && quota.secondaryUsedPercent < 100,
      limit_reached: quota.primaryUsedPercent >= 100 || quota.secondaryUsedPercent >= 100,
      primary: window(quota.primaryUsedPercent, 300, quota.primaryResetAt),
      secondary: window(quota.secondaryUsedPercent, 10080, quota.secondaryResetAt),
    },
  };
}

/** Final output items (what response.completed and non-stream JSON carry). */
export function finalOutput(plan: ResponsePlan, ids: OutputIds): JsonObject[] {
  const items: JsonObject[] = [];
  if (plan.reasoning) items.push(ids.finalReasoning);
  if (plan.output.kind === 'text') items.push(messageItem(ids.item, plan.output.text));
  else items.push(functionCallItem(ids.item, ids.callId, plan.output.name, plan.output.arguments));
  return items;
}

export interface OutputIds {
  item: string;
  callId: string;
  reasoning: string;
  finalReasoning: JsonObject;
}

export function makeOutputIds(plan: ResponsePlan): OutputIds {
  const reasoning = newId('rs');
  return {
    item: plan.output.kind === 'text' ? newId('msg') : newId('fc'),
    callId: newId('call'),
    reasoning,
    finalReasoning: reasoningItem(reasoning, true),
  };
}

function textEvents(text: string, itemId: string, outputIndex: number): JsonObject[] {
  const part = { type: 'output_text', text: '', annotations: [] };
  const base = { item_id: itemId, output_index: outputIndex, content_index: 0 };
  return [
    { type: 'response.output_item.added', output_index: outputIndex, item: messageItem(itemId, null) },
    { type: 'response.content_part.added', ...base, part },
    ...splitChunks(text).map((delta) => ({ type: 'response.output_text.delta', ...base, delta, logprobs: [] })),
    { type: 'response.output_text.done', ...base, text, logprobs: [] },
    { type: 'response.content_part.done', ...base, part: { ...part, text } },
    { type: 'response.output_item.done', output_index: outputIndex, item: messageItem(itemId, text) },
  ];
}

function functionCallEvents(name: string, args: string, ids: OutputIds, outputIndex: number): JsonObject[] {
  const base = { item_id: ids.item, output_index: outputIndex };
  return [
    { type: 'response.output_item.added', output_index: outputIndex, item: functionCallItem(ids.item, ids.callId, name, null) },
    ...splitChunks(args, 2).map((delta) => ({ type: 'response.function_call_arguments.delta', ...base, delta })),
    { type: 'response.function_call_arguments.done', ...base, arguments: args },
    { type: 'response.output_item.done', output_index: outputIndex, item: functionCallItem(ids.item, ids.callId, name, args) },
  ];
}

/** Assign increasing sequence numbers from 0 (in place order). */
export function sequence(events: JsonObject[]): JsonObject[] {
  return events.map((event, i) => ({ ...event, sequence_number: i }));
}

/** Events before any output item: created, in_progress, codex.rate_limits. */
export function preambleEvents(plan: ResponsePlan): JsonObject[] {
  const inProgress = responseObject(plan, 'in_progress', [], null);
  return [
    { type: 'response.created', response: inProgress },
    { type: 'response.in_progress', response: inProgress },
    rateLimitsEvent(plan.quota, plan.planType),
  ];
}

/** Full successful event sequence, without sequence numbers. */
export function successEvents(plan: ResponsePlan, ids: OutputIds): JsonObject[] {
  const events = preambleEvents(plan);
  let index = 0;
  if (plan.reasoning) {
    events.push({ type: 'response.output_item.added', output_index: 0, item: reasoningItem(ids.reasoning, false) });
    events.push({ type: 'response.output_item.done', output_index: 0, item: ids.finalReasoning });
    index = 1;
  }
  if (plan.output.kind === 'text') events.push(...textEvents(plan.output.text, ids.item, index));
  else events.push(...functionCallEvents(plan.output.name, plan.output.arguments, ids, index));
  events.push({ type: 'response.completed', response: responseObject(plan, 'completed', finalOutput(plan, ids), plan.usage) });
  return events;
}

const FAILURE_MESSAGES: Record<string, string> = {
  usage_limit_reached: 'The usage limit has been reached',
  server_is_overloaded: 'Our servers are currently overloaded. Please try again later.',
  server_error: 'An error occurred while processing your request.',
  context_length_exceeded: 'Your input exceeds the context window of this model. Please adjust your input and try again.',
  previous_response_not_found: 'Previous response not found.',
};

export function failureMessage(code: string): string {
  return FAILURE_MESSAGES[code] ?? `Scripted upstream failure: ${code}`;
}

export function failedEvent(plan: ResponsePlan, code: string, message = failureMessage(code)): JsonObject {
  const response = responseObject(plan, 'failed', [], null);
  response.error = { code, message };
  return { type: 'response.failed', response };
}

export function isDeltaEvent(event: JsonObject): boolean {
  return event.type === 'response.output_text.delta' || event.type === 'response.function_call_arguments.delta';
}

export function sseFrame(event: JsonObject): string {
  return `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`;
}
