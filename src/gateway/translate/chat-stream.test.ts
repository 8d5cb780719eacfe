import { describe, expect, test } from 'vitest';
import type { SseEvent } from '../sse.ts';
import { chatCompletionFromResponse } from './chat-completion.ts';
import { createChatStreamState, finishChatStream, toChatChunks } from './chat-stream.ts';
import { fixtureEvents, framePayloads, type FixtureName } from './fixtures.ts';
import { collectResponse } from './response-collector.ts';

const clock = { now: () => 1_800_000_000_000, generateId: () => 'chatcmpl_fixed' };
type Chunk = { id: string; object: string; created: number; model: string; service_tier?: string; choices: unknown[]; usage?: unknown; error?: unknown };

function replay(events: SseEvent[], includeUsage = true): { frames: string[]; payloads: (Chunk | '[DONE]')[] } {
  const state = createChatStreamState({ model: 'gpt-x', includeUsage, ...clock });
  const frames = [...events.flatMap((event) => toChatChunks(event, state)), ...finishChatStream(state)];
  for (const frame of frames) expect(frame).toMatch(/^data: .*\n\n$/s);
  return { frames, payloads: framePayloads(frames) as (Chunk | '[DONE]')[] };
}

/** One line per chunk: the choices (or usage / error), without the shared fields. */
function summary(name: FixtureName, includeUsage = true): string[] {
  return replay(fixtureEvents(name), includeUsage).payloads.map((payload) => {
    if (payload === '[DONE]') return payload;
    if (payload.error) return `error ${JSON.stringify(payload.error)}`;
    if (payload.usage) return `usage ${JSON.stringify(payload.usage)}`;
    return JSON.stringify((payload.choices[0] as { delta: unknown; finish_reason: unknown }).delta) + ` ${(payload.choices[0] as { finish_reason: unknown }).finish_reason}`;
  });
}

const sse = (data: unknown): SseEvent => ({ type: null, data: JSON.stringify(data) });

describe('chat chunks from recorded upstream streams', () => {
  test('text-basic: role, content deltas, stop, usage with cached and reasoning tokens, [DONE]', () => {
    expect(summary('text-basic')).toMatchInlineSnapshot(`
      [
        "{"role":"assistant"} null",
        "{"content":"Hello"} null",
        "{"content":", wor"} null",
        "{"content":"ld!"} null",
        "{} stop",
        "usage {"prompt_tokens":21,"completion_tokens":12,"total_tokens":33,"prompt_tokens_details":{"cached_tokens":16},"completion_tokens_details":{"reasoning_tokens":8}}",
        "[DONE]",
      ]
    `);
    const { payloads } = replay(fixtureEvents('text-basic'));
    for (const payload of payloads.slice(0, -1) as Chunk[]) {
      expect(payload).toMatchObject({ id: 'resp_text_basic', object: 'chat.completion.chunk', created: 1767225600, model: 'gpt-5.4', service_tier: 'default' });
    }
    expect(payloads.at(-2)).toMatchObject({ choices: [] });
  });

  test('function-call: two parallel calls with stable indexes, arguments split across deltas, finish tool_calls', () => {
    expect(summary('function-call')).toMatchInlineSnapshot(`
      [
        "{"role":"assistant"} null",
        "{"tool_calls":[{"id":"call_paris","type":"function","index":0,"function":{"name":"get_weather","arguments":""}}]} null",
        "{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]} null",
        "{"tool_calls":[{"index":0,"function":{"arguments":"ty\\":\\"Pa"}}]} null",
        "{"tool_calls":[{"index":0,"function":{"arguments":"ris\\"}"}}]} null",
        "{"tool_calls":[{"id":"call_tokyo","type":"function","index":1,"function":{"name":"get_weather","arguments":""}}]} null",
        "{"tool_calls":[{"index":1,"function":{"arguments":"{\\"city\\""}}]} null",
        "{"tool_calls":[{"index":1,"function":{"arguments":":\\"Tok"}}]} null",
        "{"tool_calls":[{"index":1,"function":{"arguments":"yo\\"}"}}]} null",
        "{} tool_calls",
        "usage {"prompt_tokens":60,"completion_tokens":30,"total_tokens":90,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}",
        "[DONE]",
      ]
    `);
  });

  test('custom-tool: free-form input streamed as custom.input deltas; response.done is a terminal', () => {
    expect(summary('custom-tool')).toMatchInlineSnapshot(`
      [
        "{"role":"assistant"} null",
        "{"tool_calls":[{"id":"call_patch","type":"custom","index":0,"custom":{"name":"apply_patch","input":""}}]} null",
        "{"tool_calls":[{"index":0,"custom":{"input":"*** Begin Patch\\n*** Add File: hello.txt\\n"}}]} null",
        "{"tool_calls":[{"index":0,"custom":{"input":"+hello\\n"}}]} null",
        "{"tool_calls":[{"index":0,"custom":{"input":"*** End Patch"}}]} null",
        "{} tool_calls",
        "usage {"prompt_tokens":90,"completion_tokens":25,"total_tokens":115,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":0}}",
        "[DONE]",
      ]
    `);
  });

  test('refusal: refusal deltas and finish content_filter', () => {
    expect(summary('refusal')).toMatchInlineSnapshot(`
      [
        "{"role":"assistant"} null",
        "{"refusal":"I'm sorry, but "} null",
        "{"refusal":"I can't help with that."} null",
        "{} content_filter",
        "usage {"prompt_tokens":15,"completion_tokens":10,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}",
        "[DONE]",
      ]
    `);
  });

  test('incomplete: max tokens → length, content filter → content_filter', () => {
    expect(summary('incomplete-max-tokens', false).at(-2)).toBe('{} length');
    expect(summary('incomplete-content-filter', false).at(-2)).toBe('{} content_filter');
  });

  test('empty-deltas: empty text and argument deltas produce no chunks; text plus a call finishes tool_calls', () => {
    expect(summary('empty-deltas', false)).toMatchInlineSnapshot(`
      [
        "{"role":"assistant"} null",
        "{"content":"Looking"} null",
        "{"content":" it up."} null",
        "{"tool_calls":[{"id":"call_e","type":"function","index":0,"function":{"name":"lookup","arguments":""}}]} null",
        "{"tool_calls":[{"index":0,"function":{"arguments":"{\\"q\\":"}}]} null",
        "{"tool_calls":[{"index":0,"function":{"arguments":"\\"x\\"}"}}]} null",
        "{} tool_calls",
        "[DONE]",
      ]
    `);
  });

  test('usage-absent: no usage chunk even when include_usage is set', () => {
    expect(summary('usage-absent')).toMatchInlineSnapshot(`
      [
        "{"role":"assistant"} null",
        "{"content":"No usage "} null",
        "{"content":"here."} null",
        "{} stop",
        "[DONE]",
      ]
    `);
  });

  test('include_usage off: no usage chunk', () => {
    expect(summary('text-basic', false).some((line) => line.startsWith('usage'))).toBe(false);
  });

  test('failure-before-output: exactly one redacted error frame, no role chunk, no [DONE]', () => {
    const { frames } = replay(fixtureEvents('failure-before-output'));
    expect(frames).toEqual(['data: {"error":{"message":"upstream request failed","type":"server_error","code":"server_is_overloaded"}}\n\n']);
  });

  test('failure-mid-stream: content, then the redacted error frame, no [DONE]', () => {
    expect(summary('failure-mid-stream')).toMatchInlineSnapshot(`
      [
        "{"role":"assistant"} null",
        "{"content":"Partial "} null",
        "{"content":"answer"} null",
        "error {"message":"upstream request failed","type":"server_error","code":"server_error"}",
      ]
    `);
  });

  test('eof-mid-stream: content, then the interrupted-stream error, no [DONE]', () => {
    const { frames } = replay(fixtureEvents('eof-mid-stream'));
    expect(frames.at(-1)).toBe(
      'data: {"error":{"message":"upstream request failed: stream interrupted before terminal response event","type":"server_error","code":"server_error","param":null}}\n\n',
    );
    expect(frames.join('')).not.toContain('[DONE]');
  });

  test('nothing after the terminal', () => {
    const state = createChatStreamState({ model: 'gpt-x', includeUsage: false, ...clock });
    for (const event of fixtureEvents('usage-absent')) toChatChunks(event, state);
    expect(toChatChunks(sse({ type: 'response.output_text.delta', delta: 'late' }), state)).toEqual([]);
    expect(finishChatStream(state)).toEqual([]);
  });
});

describe('chat chunks from unusual but valid upstream shapes', () => {
  test('shared fields fall back to the request model, a generated id and the clock when no response object came first', () => {
    const { payloads } = replay([sse({ type: 'response.output_text.delta', delta: 'hi' }), sse({ id: 'resp_late', status: 'completed', output: [] })], false);
    expect(payloads[0]).toEqual({ id: 'chatcmpl_fixed', object: 'chat.completion.chunk', created: 1_800_000_000, model: 'gpt-x', choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }] });
    expect(payloads.map((p) => (p === '[DONE]' ? p : p.id))).toEqual(['chatcmpl_fixed', 'chatcmpl_fixed', 'chatcmpl_fixed', '[DONE]']);
  });

  test('a call seen only in output_item.done is sent whole; deltas keyed by output_index only still land on it', () => {
    const call = { id: 'fc_1', type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{"a":1}' };
    const { payloads } = replay(
      [
        sse({ type: 'response.output_item.added', output_index: 0, item: { ...call, arguments: '' } }),
        sse({ type: 'response.function_call_arguments.delta', output_index: 0, delta: '{"a"' }),
        sse({ type: 'response.output_item.done', output_index: 0, item: call }),
        sse({ type: 'response.output_item.done', output_index: 1, item: { ...call, id: 'fc_2', call_id: 'call_2', arguments: '{}' } }),
        sse({ type: 'response.completed', response: { status: 'completed', output: [] } }),
      ],
      false,
    );
    const deltas = payloads.slice(1, -2).map((p) => ((p as Chunk).choices[0] as { delta: unknown }).delta);
    expect(deltas).toEqual([
      { tool_calls: [{ id: 'call_1', type: 'function', index: 0, function: { name: 'f', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] },
      { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] },
      { tool_calls: [{ id: 'call_2', type: 'function', index: 1, function: { name: 'f', arguments: '{}' } }] },
    ]);
  });

  test('text that only arrives in output_text.done or the final item is sent once', () => {
    const item = { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'whole' }] };
    const summaryOf = (events: SseEvent[]) => replay(events, false).payloads.slice(0, -1).map((p) => JSON.stringify(((p as Chunk).choices[0] as { delta: unknown }).delta));
    expect(summaryOf([sse({ type: 'response.output_text.done', item_id: 'msg_1', text: 'whole' }), sse({ type: 'response.output_item.done', item }), sse({ type: 'response.completed', response: { output: [item] } })])).toEqual([
      '{"role":"assistant"}',
      '{"content":"whole"}',
      '{}',
    ]);
    expect(summaryOf([sse({ type: 'response.completed', response: { output: [item] } })])).toEqual(['{"role":"assistant"}', '{"content":"whole"}', '{}']);
  });

  test('an empty successful response still gets a role chunk, a finish chunk and [DONE]', () => {
    const { payloads } = replay([sse({ type: 'response.created', response: { id: 'resp_e', created_at: 1, model: 'm' } }), sse({ type: 'response.completed', response: { id: 'resp_e', status: 'completed', output: [] } })], false);
    expect(payloads.map((p) => (p === '[DONE]' ? p : JSON.stringify(p.choices)))).toEqual([
      '[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]',
      '[{"index":0,"delta":{},"finish_reason":"stop"}]',
      '[DONE]',
    ]);
  });

  test('codex.* and unknown events are ignored', () => {
    const { frames } = replay([sse({ type: 'codex.rate_limits' }), sse({ type: 'response.reasoning_summary_text.delta', delta: 'x' }), sse({ type: 'response.web_search_call.searching' })]);
    expect(framePayloads(frames)).toEqual([{ error: { message: 'upstream request failed: stream interrupted before terminal response event', type: 'server_error', code: 'server_error', param: null } }]);
  });
});

describe('chat.completion from a collected response', () => {
  const complete = (name: FixtureName) => {
    const result = collectResponse(fixtureEvents(name));
    if (!result.ok) throw new Error(`${name} did not complete`);
    return chatCompletionFromResponse(result.response, 'gpt-x', clock);
  };

  test('text-basic', () => {
    expect(complete('text-basic')).toEqual({
      id: 'resp_text_basic',
      object: 'chat.completion',
      created: 1767225600,
      model: 'gpt-5.4',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello, world!' }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 21, completion_tokens: 12, total_tokens: 33, prompt_tokens_details: { cached_tokens: 16 }, completion_tokens_details: { reasoning_tokens: 8 } },
      service_tier: 'default',
    });
  });

  test('function-call (back-filled output): tool_calls with indexes, content null, finish tool_calls', () => {
    const choice = (complete('function-call').choices as { message: unknown; finish_reason: string }[])[0]!;
    expect(choice).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_paris', type: 'function', index: 0, function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_tokyo', type: 'function', index: 1, function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } },
        ],
      },
    });
  });

  test('custom-tool: a custom tool call', () => {
    const message = (complete('custom-tool').choices as { message: { tool_calls: unknown[] } }[])[0]!.message;
    expect(message.tool_calls).toEqual([{ id: 'call_patch', type: 'custom', index: 0, custom: { name: 'apply_patch', input: '*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch' } }]);
  });

  test.each([
    ['refusal', 'content_filter'],
    ['incomplete-max-tokens', 'length'],
    ['incomplete-content-filter', 'content_filter'],
    ['empty-deltas', 'tool_calls'],
    ['usage-absent', 'stop'],
  ] as [FixtureName, string][])('%s finishes with %s', (name, finish) => {
    expect((complete(name).choices as { finish_reason: string }[])[0]!.finish_reason).toBe(finish);
  });

  test('refusal text is the message refusal; absent usage is omitted', () => {
    expect((complete('refusal').choices as { message: unknown }[])[0]!.message).toEqual({ role: 'assistant', content: null, refusal: "I'm sorry, but I can't help with that." });
    expect(complete('usage-absent')).not.toHaveProperty('usage');
  });

  test('id, created and model fall back to a generated id, the clock and the request model', () => {
    expect(chatCompletionFromResponse({ output: [] }, 'gpt-x', clock)).toMatchObject({ id: 'chatcmpl_fixed', created: 1_800_000_000, model: 'gpt-x', choices: [{ message: { content: '' }, finish_reason: 'stop' }] });
    expect(chatCompletionFromResponse({ status: 'failed', output: [] }, 'gpt-x', clock)).toMatchObject({ choices: [{ finish_reason: 'stop' }] });
  });
});
