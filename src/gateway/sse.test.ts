import { describe, expect, test } from 'vitest';
import { SseReader, parseBlock } from './sse.ts';
import { classifyEvent, failureCode } from './upstream-events.ts';
import { usageFrom, usageFromPayload } from './usage.ts';
import { affinityKeyOf, startsConversation, upstreamCompactBody, upstreamResponsesBody } from './responses-body.ts';

const frame = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

describe('SseReader', () => {
  test('events split across chunks and multibyte characters split across chunks', () => {
    const text = frame('response.output_text.delta', { delta: 'héllo ✓' }) + frame('response.completed', { response: { usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } } });
    const bytes = Buffer.from(text);
    const reader = new SseReader();
    const events = [];
    for (let i = 0; i < bytes.length; i += 7) events.push(...reader.push(bytes.subarray(i, i + 7)));
    events.push(...reader.end());
    expect(events.map((e) => e.type)).toEqual(['response.output_text.delta', 'response.completed']);
    expect(JSON.parse(events[0]!.data).delta).toBe('héllo ✓');
  });

  test('CRLF framing, comments and a type only in the data', () => {
    const reader = new SseReader();
    const events = reader.push(Buffer.from(': keepalive\r\n\r\ndata: {"type":"response.created"}\r\n\r\n'));
    expect(events.map((e) => e.type)).toEqual(['response.created']);
  });

  test('a final block without a blank line is read at the end', () => {
    const reader = new SseReader();
    expect(reader.push(Buffer.from('data: {"type":"response.done"}'))).toEqual([]);
    expect(reader.end().map((e) => e.type)).toEqual(['response.done']);
  });

  test('an empty data line', () => {
    expect(parseBlock('event: ping\ndata:')).toEqual({ type: 'ping', data: '' });
  });
});

describe('first-event classification', () => {
  const event = (type: string, data: object) => parseBlock(frame(type, data).trim())!;
  test.each([
    ['response.created', {}, { kind: 'prelude' }],
    ['codex.rate_limits', {}, { kind: 'prelude' }],
    ['response.output_text.delta', { delta: 'x' }, { kind: 'output' }],
    ['response.failed', { response: { error: { code: 'server_is_overloaded' } } }, { kind: 'failure', code: 'server_is_overloaded', failover: true }],
    ['response.failed', { response: { error: { code: 'usage_limit_reached' } } }, { kind: 'failure', code: 'usage_limit_reached', failover: false }],
    ['error', { error: { code: 'previous_response_not_found' } }, { kind: 'failure', code: 'previous_response_not_found', failover: false }],
    ['error', { code: 'server_error' }, { kind: 'failure', code: 'server_error', failover: true }],
  ])('%s %j', (type, data, verdict) => {
    expect(classifyEvent(event(type, data))).toEqual(verdict);
  });

  test('failure code lookup order', () => {
    expect(failureCode({ response: { status_details: { error: { code: 'a' } } }, error: { code: 'b' } })).toBe('b');
    expect(failureCode(null)).toBe('stream_error');
  });
});

describe('usage', () => {
  test('responses usage with cached and reasoning tokens', () => {
    expect(usageFromPayload({ response: { usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 4 }, output_tokens: 6, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 16 } } })).toEqual({ inputTokens: 10, cachedInputTokens: 4, outputTokens: 6, reasoningTokens: 2, totalTokens: 16 });
  });
  test('inconsistent totals or missing counts are unknown', () => {
    expect(usageFrom({ input_tokens: 1, output_tokens: 1, total_tokens: 5 })).toBeNull();
    expect(usageFrom({ input_tokens: 1 })).toBeNull();
    expect(usageFrom({ prompt_tokens: 2, completion_tokens: 3 })).toMatchObject({ totalTokens: 5 });
  });
});

describe('upstream body rewriting', () => {
  test('drops parameters the upstream refuses and rewrites the model', () => {
    const out = upstreamResponsesBody({ model: 'GPT-5.4', temperature: 0.2, max_output_tokens: 9, top_p: 1, service_tier: 'fast', input: [], stream: true }, 'gpt-5.4');
    expect(out).toEqual({ model: 'gpt-5.4', instructions: '', service_tier: 'priority', input: [], stream: true });
  });
  test('input must be an array', () => {
    expect(() => upstreamResponsesBody({ model: 'm', input: { a: 1 } }, 'm')).toThrow('input must be an array');
  });
  test('compact keeps only compaction fields and needs input', () => {
    expect(upstreamCompactBody({ model: 'm', input: [{}], stream: true, store: true, prompt_cache_key: 'k' }, 'm')).toEqual({ model: 'm', input: [{}], prompt_cache_key: 'k', instructions: '' });
    expect(() => upstreamCompactBody({ model: 'm', input: [] }, 'm')).toThrow('non-empty');
  });
  test('affinity comes from the session header, then prompt_cache_key (at most 256 bytes)', () => {
    expect(affinityKeyOf({ prompt_cache_key: 'conv-1' }, { session_id: 's' })).toBe('sid:s');
    expect(affinityKeyOf({ prompt_cache_key: 'conv-1' }, {})).toBe('pck:conv-1');
    expect(affinityKeyOf({ prompt_cache_key: 'x'.repeat(257) }, {})).toBeNull();
    expect(affinityKeyOf({}, { session_id: 's' })).toBe('sid:s');
    expect(affinityKeyOf({}, {})).toBeNull();
  });
});

describe('conversation boundaries', () => {
  test.each([
    ['a first user message', { input: [{ type: 'message', role: 'user', content: [] }] }, true],
    ['a string input', { input: 'hi' }, true],
    ['a reply already in the history', { input: [{ type: 'message', role: 'user', content: [] }, { type: 'message', role: 'assistant', content: [] }] }, false],
    ['a tool output', { input: [{ type: 'function_call_output', call_id: 'c', output: 'x' }] }, false],
    ['a previous response', { previous_response_id: 'resp_1', input: [] }, false],
  ])('%s', (_name, body, expected) => {
    expect(startsConversation(body as Record<string, unknown>)).toBe(expected);
  });
});
