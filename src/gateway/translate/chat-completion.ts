import { randomUUID } from 'node:crypto';
import { usageFrom } from '../usage.ts';
import { isObject, type JsonObject } from './json.ts';

/**
 * Responses → Chat Completions pieces shared by the non-streaming reply and the chunk stream
 * (runtime spec §9.3 with the §15 `finish_reason` decision).
 */

export type ChatUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
};

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export type ChatClock = {
  /** Milliseconds since the epoch (for `created` when the upstream gave none). */
  now?: () => number;
  /** Id when the upstream response has none; default `chatcmpl_<uuid>`. */
  generateId?: () => string;
};

/** Responses usage → Chat usage, with cached and reasoning tokens; null when absent or inconsistent. */
export function chatUsage(usage: unknown): ChatUsage | null {
  const tokens = usageFrom(usage);
  if (!tokens) return null;
  return {
    prompt_tokens: tokens.inputTokens,
    completion_tokens: tokens.outputTokens,
    total_tokens: tokens.totalTokens,
    prompt_tokens_details: { cached_tokens: tokens.cachedInputTokens },
    completion_tokens_details: { reasoning_tokens: tokens.reasoningTokens },
  };
}

export type FinishFacts = { status: unknown; incompleteReason: unknown; hasToolCalls: boolean; refused: boolean };

/**
 * `tool_calls` whenever the choice carries tool calls (decision §15, issue 5), then `content_filter`
 * for an incomplete response cut by the content filter, `length` for any other incomplete one,
 * `content_filter` on a refusal, else `stop` (completed, absent and failed statuses alike).
 */
export function finishReason(facts: FinishFacts): FinishReason {
  if (facts.hasToolCalls) return 'tool_calls';
  if (facts.status === 'incomplete') return facts.incompleteReason === 'content_filter' ? 'content_filter' : 'length';
  if (facts.refused) return 'content_filter';
  return 'stop';
}

export const incompleteReasonOf = (response: JsonObject): unknown => (isObject(response.incomplete_details) ? response.incomplete_details.reason : undefined);

export const createdOf = (response: JsonObject | null, now: () => number): number =>
  typeof response?.created_at === 'number' && Number.isInteger(response.created_at) ? response.created_at : Math.floor(now() / 1000);

export const idOf = (response: JsonObject | null, generateId: () => string): string => (typeof response?.id === 'string' && response.id !== '' ? response.id : generateId());

export const defaultChatId = (): string => `chatcmpl_${randomUUID()}`;

/** A chat `tool_calls` entry for a Responses function or custom tool call item (null for others). */
export function chatToolCall(item: JsonObject, index: number): JsonObject | null {
  const id = typeof item.call_id === 'string' ? item.call_id : typeof item.id === 'string' ? item.id : '';
  const name = typeof item.name === 'string' ? item.name : '';
  if (item.type === 'function_call') return { id, type: 'function', index, function: { name, arguments: typeof item.arguments === 'string' ? item.arguments : '' } };
  if (item.type === 'custom_tool_call') return { id, type: 'custom', index, custom: { name, input: typeof item.input === 'string' ? item.input : '' } };
  return null;
}

/** Non-streaming reply: a (collected, back-filled) Responses object as a `chat.completion`. */
export function chatCompletionFromResponse(response: JsonObject, requestModel: string, clock: ChatClock = {}): JsonObject {
  const text: string[] = [];
  const refusal: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const item of Array.isArray(response.output) ? response.output : []) {
    if (!isObject(item)) continue;
    if (item.type === 'message' && Array.isArray(item.content)) {
      for (const part of item.content) {
        if (!isObject(part)) continue;
        if (part.type === 'output_text' && typeof part.text === 'string') text.push(part.text);
        if (part.type === 'refusal' && typeof part.refusal === 'string') refusal.push(part.refusal);
      }
      continue;
    }
    const call = chatToolCall(item, toolCalls.length);
    if (call) toolCalls.push(call);
  }
  const joined = text.join('');
  const message: JsonObject = { role: 'assistant', content: joined === '' && (toolCalls.length > 0 || refusal.length > 0) ? null : joined };
  if (refusal.length > 0) message.refusal = refusal.join('');
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const finish = finishReason({ status: response.status, incompleteReason: incompleteReasonOf(response), hasToolCalls: toolCalls.length > 0, refused: refusal.length > 0 });
  const reply: JsonObject = {
    id: idOf(response, clock.generateId ?? defaultChatId),
    object: 'chat.completion',
    created: createdOf(response, clock.now ?? Date.now),
    model: typeof response.model === 'string' && response.model !== '' ? response.model : requestModel,
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
  };
  const usage = chatUsage(response.usage);
  if (usage) reply.usage = usage;
  if (typeof response.service_tier === 'string') reply.service_tier = response.service_tier;
  return reply;
}
