/**
 * The fake upstream used by the integration tests (test/support/fake-sse-events.ts) and the recorded
 * fixtures must speak the same dialect: its event sequences go through the translators too.
 */
import { describe, expect, test } from 'vitest';
import { makeOutputIds, makeUsage, sequence, sseFrame, successEvents, type OutputPlan, type ResponsePlan } from '../../../test/support/fake-sse-events.ts';
import { SseReader } from '../sse.ts';
import { chatCompletionFromResponse } from './chat-completion.ts';
import { createChatStreamState, finishChatStream, toChatChunks } from './chat-stream.ts';
import { framePayloads } from './fixtures.ts';
import { collectResponse } from './response-collector.ts';

function planFor(output: OutputPlan): ResponsePlan {
  const text = output.kind === 'text' ? output.text : output.arguments;
  return {
    responseId: 'resp_fake',
    createdAt: 1767225600,
    model: 'gpt-5.4',
    planType: 'plus',
    request: { model: 'gpt-5.4', stream: true },
    output,
    reasoning: true,
    usage: makeUsage(400, text, true, true),
    quota: { primaryUsedPercent: 1, secondaryUsedPercent: 2, primaryResetAt: 1767230000, secondaryResetAt: 1767800000 },
  };
}

function fakeStream(output: OutputPlan) {
  const plan = planFor(output);
  const reader = new SseReader();
  const bytes = Buffer.from(sequence(successEvents(plan, makeOutputIds(plan))).map(sseFrame).join(''));
  return { plan, events: [...reader.push(bytes), ...reader.end()] };
}

describe('fake upstream streams through the translators', () => {
  test('text: chat chunks and the collected completion carry the exact text and usage', () => {
    const { plan, events } = fakeStream({ kind: 'text', text: 'Hello from the fake Codex upstream.' });
    const state = createChatStreamState({ model: 'gpt-x', includeUsage: true });
    const payloads = framePayloads([...events.flatMap((event) => toChatChunks(event, state)), ...finishChatStream(state)]) as { choices: { delta: { content?: string } }[]; usage?: { total_tokens: number } }[];
    expect(payloads.flatMap((p) => (typeof p === 'object' ? p.choices.map((c) => c.delta.content ?? '') : [])).join('')).toBe('Hello from the fake Codex upstream.');
    expect(payloads.at(-2)?.usage?.total_tokens).toBe(plan.usage.total_tokens);
    const collected = collectResponse(events);
    if (!collected.ok) throw new Error('expected success');
    expect(chatCompletionFromResponse(collected.response, 'gpt-x')).toMatchObject({ choices: [{ message: { content: 'Hello from the fake Codex upstream.' }, finish_reason: 'stop' }], usage: { prompt_tokens: plan.usage.input_tokens, completion_tokens_details: { reasoning_tokens: 8 } } });
  });

  test('function call: arguments reassembled, finish tool_calls', () => {
    const { events } = fakeStream({ kind: 'function_call', name: 'search', arguments: '{"query":"fake upstream","limit":3}' });
    const collected = collectResponse(events);
    if (!collected.ok) throw new Error('expected success');
    expect(chatCompletionFromResponse(collected.response, 'gpt-x')).toMatchObject({ choices: [{ message: { tool_calls: [{ type: 'function', function: { name: 'search', arguments: '{"query":"fake upstream","limit":3}' } }] }, finish_reason: 'tool_calls' }] });
  });
});
