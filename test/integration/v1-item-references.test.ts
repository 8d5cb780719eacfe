/**
 * The Vercel AI SDK's Responses model with its default `store: true` replays earlier output items
 * (reasoning, assistant messages) as `item_reference`s. The upstream runs with `store: false` and
 * cannot resolve them (the fake answers 404 like the real API), so the gateway swaps in the items it
 * relayed: these tests drive real SDK tool loops WITHOUT `store: false` and check what the SDK
 * sent, what the upstream received and what the client saw.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool, type ModelMessage } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, test } from 'vitest';
import { DEFAULT_REPLY, TOOL_CALL_ARGUMENTS, startFakeUpstream, type FakeUpstream, type RecordedRequest } from '../support/fake-upstream.ts';
import type { JsonObject } from '../support/fake-sse-events.ts';
import { seedPool, startGateway, type TestGateway } from '../support/gateway.ts';

const TURN_PATH = '/backend-api/codex/responses';
const MODEL = 'gpt-5.4';
const TOOL_ARGS = JSON.parse(TOOL_CALL_ARGUMENTS) as { query: string; limit: number };

let upstream: FakeUpstream;
let gateway: TestGateway;
let seeded: Awaited<ReturnType<typeof seedPool>>;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  // Two accounts: encrypted reasoning only decrypts on the account that produced it.
  seeded = await seedPool(gateway, upstream, 2, 'v1-item-refs');
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});
beforeEach(() => upstream.setReply(DEFAULT_REPLY));

const turns = (): RecordedRequest[] => upstream.requestsTo(TURN_PATH).filter((r) => r.method === 'POST');
const inputOf = (turn: RecordedRequest): JsonObject[] => (turn.body as JsonObject).input as JsonObject[];

/** A provider whose fetch records what the SDK sent and what the gateway answered (bodies only). */
function recordingProvider() {
  const sent: JsonObject[] = [];
  const answered: string[] = [];
  const provider = createOpenAI({
    apiKey: seeded.key,
    baseURL: `${gateway.url}/v1`,
    fetch: async (url, init) => {
      if (typeof init?.body === 'string') sent.push(JSON.parse(init.body) as JsonObject);
      const response = await fetch(url, init);
      answered.push(await response.clone().text());
      return response;
    },
  });
  return { provider, sent, answered };
}

const references = (body: JsonObject): string[] => ((body.input as JsonObject[]) ?? []).filter((item) => item.type === 'item_reference').map((item) => item.id as string);

function weatherTool(answer: string, executed: unknown[]) {
  return tool({
    description: 'Weather search',
    inputSchema: jsonSchema<{ query: string; limit: number }>({ type: 'object', properties: { query: { type: 'string' }, limit: { type: 'number' } }, required: ['query', 'limit'] }),
    execute: async (input) => {
      executed.push(input);
      upstream.setReply(answer); // the turn after the tool result answers with text
      return { forecast: 'sunny', celsius: 21 };
    },
  });
}

/** Checks one resolved replay turn: no reference upstream, the encrypted reasoning of the turn before, same account. */
function expectResolved(previous: RecordedRequest, turn: RecordedRequest, sentReferences: string[]): void {
  const input = inputOf(turn);
  expect(input.filter((item) => item.type === 'item_reference')).toEqual([]);
  const reasoning = input.filter((item) => item.type === 'reasoning');
  expect(reasoning.map((item) => item.id)).toEqual(sentReferences.filter((id) => id.startsWith('rs_')));
  for (const item of reasoning) expect(item.encrypted_content).toMatch(/^gAAAAA/);
  expect(turn.accountId).toBe(previous.accountId);
}

describe('Vercel AI SDK Responses model with the default store: true', () => {
  test('generateText tool loop (tool call, tool result, final text) then a follow-up turn', async () => {
    const { provider, sent, answered } = recordingProvider();
    const answer = 'Sunny in Paris, 21 degrees.';
    const executed: unknown[] = [];
    const before = turns().length;
    const result = await generateText({
      model: provider.responses(MODEL),
      prompt: 'call_tool: weather in Paris',
      tools: { get_weather: weatherTool(answer, executed) },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    expect(result.steps.map((step) => step.finishReason)).toEqual(['tool-calls', 'stop']);
    expect(executed).toEqual([TOOL_ARGS]);
    expect(result.text).toBe(answer);

    // The SDK replayed the first step's reasoning by reference (nothing asked for encrypted content).
    expect(sent).toHaveLength(2);
    expect(sent[0]!.store).toBeUndefined();
    expect(sent[0]!.include).toBeUndefined();
    const stepReferences = references(sent[1]!);
    expect(stepReferences).toEqual([expect.stringMatching(/^rs_/)]);
    // The client never saw the encrypted reasoning the gateway asked for on its behalf.
    for (const body of answered) expect(body).not.toContain('encrypted_content');

    const seen = turns().slice(before);
    expect(seen).toHaveLength(2);
    expect((seen[0]!.body as JsonObject).include).toEqual(['reasoning.encrypted_content']);
    expectResolved(seen[0]!, seen[1]!, stepReferences);
    const secondInput = inputOf(seen[1]!);
    expect(secondInput.find((item) => item.type === 'function_call')).toMatchObject({ name: 'get_weather', arguments: TOOL_CALL_ARGUMENTS });
    expect(secondInput.find((item) => item.type === 'function_call_output')).toBeDefined();

    // A follow-up turn replays the whole history: both reasoning items and the assistant message by reference.
    upstream.setReply('You are welcome.');
    const messages: ModelMessage[] = [{ role: 'user', content: 'call_tool: weather in Paris' }, ...result.steps.flatMap((step) => step.response.messages), { role: 'user', content: 'Thanks!' }];
    const followUp = await generateText({ model: provider.responses(MODEL), messages, tools: { get_weather: weatherTool(answer, executed) }, maxRetries: 0 });
    expect(followUp.text).toBe('You are welcome.');
    const followReferences = references(sent[2]!);
    expect(followReferences.filter((id) => id.startsWith('rs_'))).toHaveLength(2);
    expect(followReferences.filter((id) => id.startsWith('msg_'))).toHaveLength(1);
    const third = turns().at(-1)!;
    expectResolved(seen[1]!, third, followReferences);
    const message = inputOf(third).find((item) => item.type === 'message' && item.role === 'assistant');
    expect(message).toMatchObject({ id: followReferences.find((id) => id.startsWith('msg_')), content: [expect.objectContaining({ type: 'output_text', text: answer })] });
  });

  test('streamText tool loop: the streaming relay keeps the items too', async () => {
    const { provider, sent, answered } = recordingProvider();
    const answer = 'Streamed: sunny.';
    const executed: unknown[] = [];
    const before = turns().length;
    const result = streamText({
      model: provider.responses(MODEL),
      prompt: 'call_tool: weather in Paris',
      tools: { get_weather: weatherTool(answer, executed) },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    let text = '';
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') text += part.text;
      if (part.type === 'error') throw part.error;
    }
    expect(text).toBe(answer);
    expect((await result.steps).map((step) => step.finishReason)).toEqual(['tool-calls', 'stop']);
    expect(sent.every((body) => body.stream === true)).toBe(true);
    const stepReferences = references(sent[1]!);
    expect(stepReferences).toEqual([expect.stringMatching(/^rs_/)]);
    for (const body of answered) expect(body).not.toContain('encrypted_content');
    const seen = turns().slice(before);
    expect(seen).toHaveLength(2);
    expectResolved(seen[0]!, seen[1]!, stepReferences);
  });

  test('a client that asks for encrypted reasoning itself still sees it', async () => {
    const { provider, answered } = recordingProvider();
    const result = await generateText({ model: provider.responses(MODEL), prompt: 'Say hello', providerOptions: { openai: { include: ['reasoning.encrypted_content'] } }, maxRetries: 0 });
    expect(result.text).toBe(DEFAULT_REPLY);
    expect(answered[0]).toContain('"encrypted_content":"gAAAAA');
  });
});

describe('an item_reference the gateway does not hold', () => {
  test('400 item_reference_not_found naming input[i].id, never sent upstream', async () => {
    const before = upstream.requests.length;
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seeded.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, input: [{ role: 'user', content: 'hi' }, { type: 'item_reference', id: 'rs_unknown' }], stream: true }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; param: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'item_reference_not_found', param: 'input[1].id', type: 'invalid_request_error' });
    expect(body.error.message).toContain('one hour');
    expect(body.error.message).toContain('store: false');
    expect(upstream.requests.length).toBe(before);
  });

  test("another key's items are not visible", async () => {
    const { provider, answered } = recordingProvider();
    await generateText({ model: provider.responses(MODEL), prompt: 'Say hello', maxRetries: 0 });
    const reasoningId = (JSON.parse(answered[0]!) as { output: { id: string; type: string }[] }).output.find((item) => item.type === 'reasoning')!.id;
    const other = await seedPool(gateway, upstream, 1, 'v1-item-refs-other');
    const before = upstream.requests.length;
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, input: [{ type: 'item_reference', id: reasoningId }, { role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: 'item_reference_not_found', param: 'input[0].id' });
    expect(upstream.requests.length).toBe(before);
  });
});

describe('CODEX_POOLER_REPLAY_ITEM_CACHE_MB=0', () => {
  test('nothing is remembered: a reference to the answer just relayed is item_reference_not_found', async () => {
    const off = await startGateway({ databaseUrl: inject('databaseUrl'), upstream, env: { CODEX_POOLER_REPLAY_ITEM_CACHE_MB: '0' } });
    try {
      const pool = await seedPool(off, upstream, 1, 'v1-item-refs-off');
      const post = (input: unknown[]) =>
        fetch(`${off.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${pool.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, input }) });
      const first = await post([{ role: 'user', content: 'Say hello' }]);
      expect(first.status).toBe(200);
      // With no budget the body goes upstream unchanged (no encrypted reasoning asked for): reference the answer's message.
      const answerId = ((await first.json()) as { output: { id: string; type: string }[] }).output.find((item) => item.type === 'message')!.id;
      expect(off.services.replayedItems.size.items).toBe(0);
      const before = upstream.requests.length;
      const replay = await post([{ type: 'item_reference', id: answerId }, { role: 'user', content: 'again' }]);
      expect(replay.status).toBe(400);
      expect(((await replay.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: 'item_reference_not_found', param: 'input[0].id' });
      expect(upstream.requests.length).toBe(before);
    } finally {
      await off.close();
    }
  });
});
