/**
 * Real clients against the gateway's OpenAI-compatible `/v1` surface, backed by the fake ChatGPT
 * upstream. Every test asserts the exact text the fake produced and the exact usage it reported:
 * the expected usage is recomputed from the request the fake received, with the fake's own
 * `makeUsage`, and cross-checked against the request log row the gateway wrote.
 *
 * Covers: the openai JS SDK (Responses and Chat, streaming and not, cached and reasoning tokens, a
 * tool-call round trip, structured output with a strict JSON schema through `response_format`,
 * `chat.completions.parse` and `responses.parse`, the model entry docs/clients.md shows); the
 * Vercel AI SDK (`generateText` and `streamText` with both the Responses and the Chat model: text,
 * cached and reasoning tokens, a tool call, and a two-step tool loop); bad requests, which get a
 * 400 in the OpenAI error envelope naming `param` and never reach the upstream.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool, type LanguageModelUsage } from 'ai';
import OpenAI from 'openai';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, test, vi } from 'vitest';
import { z } from 'zod';
import { DEFAULT_REPLY, TOOL_CALL_ARGUMENTS, type FakeUpstream, type RecordedRequest } from '../support/fake-upstream.ts';
import { makeUsage, type JsonObject, type Usage } from '../support/fake-sse-events.ts';
import { startV1Gateway, type SeededPool, type TestGateway } from '../support/gateway.ts';

const TURN_PATH = '/backend-api/codex/responses';
const MODEL = 'gpt-5.4';
const TOOL_ARGS = JSON.parse(TOOL_CALL_ARGUMENTS) as { query: string; limit: number };

let upstream: FakeUpstream, gateway: TestGateway, seeded: SeededPool, client: OpenAI;

beforeAll(async () => {
  ({ upstream, gateway, seeded, client } = await startV1Gateway(inject('databaseUrl'), 'v1-clients'));
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});
beforeEach(() => upstream.setReply(DEFAULT_REPLY));

// ---------------------------------------------------------------- helpers

const turns = (): RecordedRequest[] => upstream.requestsTo(TURN_PATH).filter((r) => r.method === 'POST');
const bodyOf = (turn: RecordedRequest): JsonObject => turn.body as JsonObject;

/** The turns the upstream received since `before` (a `turns().length`). */
function turnsSince(before: number): RecordedRequest[] {
  return turns().slice(before);
}

/**
 * The usage the fake reported for `turn`: the fake's own `makeUsage` over the same inputs (raw body
 * bytes, the output it produced, reasoning when `include` asked for encrypted reasoning, a cache hit
 * when an earlier turn on the same account carried the same `prompt_cache_key`).
 */
function fakeUsage(turn: RecordedRequest, output: string): Usage {
  const body = bodyOf(turn);
  const include = Array.isArray(body.include) ? body.include : [];
  const key = body.prompt_cache_key;
  const all = turns();
  const earlier = all.slice(0, all.indexOf(turn));
  const cacheHit = typeof key === 'string' && earlier.some((r) => r.accountId === turn.accountId && bodyOf(r).prompt_cache_key === key);
  return makeUsage(Buffer.byteLength(turn.rawBody), output, include.includes('reasoning.encrypted_content'), cacheHit);
}

/** The fake's usage as the openai SDK types it on a Chat completion. */
const asChatUsage = (u: Usage) => ({
  prompt_tokens: u.input_tokens,
  completion_tokens: u.output_tokens,
  total_tokens: u.total_tokens,
  prompt_tokens_details: { cached_tokens: u.input_tokens_details.cached_tokens },
  completion_tokens_details: { reasoning_tokens: u.output_tokens_details.reasoning_tokens },
});

/** The fake's usage as the Vercel AI SDK reports it. */
const asAiUsage = (u: Usage) => ({
  inputTokens: u.input_tokens,
  outputTokens: u.output_tokens,
  totalTokens: u.total_tokens,
  inputTokenDetails: expect.objectContaining({ cacheReadTokens: u.input_tokens_details.cached_tokens }),
  outputTokenDetails: expect.objectContaining({ reasoningTokens: u.output_tokens_details.reasoning_tokens }),
});

const aiUsageOf = (usage: LanguageModelUsage) => ({
  inputTokens: usage.inputTokens,
  outputTokens: usage.outputTokens,
  totalTokens: usage.totalTokens,
  inputTokenDetails: usage.inputTokenDetails,
  outputTokenDetails: usage.outputTokenDetails,
});

/** The request log rows of the test key, oldest first. */
async function logRows() {
  await gateway.services.requestLog.flush();
  return gateway.services.db
    .selectFrom('requests')
    .select(['endpoint', 'status', 'response_status_code', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'pool_upstream_assignment_id'])
    .where('api_key_id', '=', seeded.apiKey.id)
    .orderBy('admitted_at', 'asc')
    .execute();
}

/**
 * The last request log rows carry exactly the fake's usage for each turn, in order. The gateway
 * writes a row once the answer is finished, which may be just after the client saw its end: poll.
 */
async function expectLogged(expected: Usage[]): Promise<void> {
  await vi.waitFor(async () => expectRows((await logRows()).slice(-expected.length), expected), { timeout: 5_000, interval: 50 });
}

function expectRows(rows: Awaited<ReturnType<typeof logRows>>, expected: Usage[]): void {
  expect(rows).toEqual(
    expected.map((u) =>
      expect.objectContaining({
        status: 'succeeded',
        response_status_code: 200,
        input_tokens: u.input_tokens,
        cached_input_tokens: u.input_tokens_details.cached_tokens,
        output_tokens: u.output_tokens,
        reasoning_tokens: u.output_tokens_details.reasoning_tokens,
        total_tokens: u.total_tokens,
        pool_upstream_assignment_id: seeded.accounts[0]!.assignmentId,
      }),
    ),
  );
}

/** Exactly one turn reached the upstream since `before`, with the pooled account's credentials. */
function oneTurnSince(before: number): RecordedRequest {
  const seen = turnsSince(before);
  expect(seen).toHaveLength(1);
  const turn = seen[0]!;
  const account = seeded.accounts[0]!;
  expect(turn.accountId).toBe(account.accountId);
  expect(turn.headers.authorization).toBe(`Bearer ${upstream.accessTokenOf(account.accountId)}`);
  expect(turn.rawBody).not.toContain('sk-cxp-');
  return turn;
}

const weatherTool: OpenAI.Chat.Completions.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather search',
    parameters: { type: 'object', properties: { query: { type: 'string' }, limit: { type: 'integer' } }, required: ['query', 'limit'], additionalProperties: false },
    strict: true,
  },
};

// ---------------------------------------------------------------- openai SDK

describe('openai SDK (JS) against /v1: exact text and usage', () => {
  test('responses.create without streaming', async () => {
    const before = turns().length;
    const response = await client.responses.create({ model: MODEL, input: 'Say hello', instructions: 'be brief' });
    const turn = oneTurnSince(before);
    const usage = fakeUsage(turn, DEFAULT_REPLY);
    expect(response.output_text).toBe(DEFAULT_REPLY);
    expect(response.usage).toEqual(usage);
    expect(bodyOf(turn)).toMatchObject({ model: MODEL, instructions: 'be brief', stream: true, store: false });
    await expectLogged([usage]);
  });

  test('responses.stream: deltas add up to the text; the final response carries the usage', async () => {
    const reply = 'Streaming through the pool, one delta at a time.';
    upstream.setReply(reply);
    const before = turns().length;
    const stream = client.responses.stream({ model: MODEL, input: [{ role: 'user', content: 'Say hello' }] });
    let text = '';
    const types = new Set<string>();
    for await (const event of stream) {
      types.add(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    const final = await stream.finalResponse();
    const usage = fakeUsage(oneTurnSince(before), reply);
    expect(text).toBe(reply);
    expect(final.output_text).toBe(reply);
    expect(final.usage).toEqual(usage);
    expect([...types].filter((t) => t.startsWith('codex.'))).toEqual([]);
    await expectLogged([usage]);
  });

  test('chat.completions.create without streaming', async () => {
    const before = turns().length;
    const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello' }] });
    const usage = fakeUsage(oneTurnSince(before), DEFAULT_REPLY);
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage).toEqual(asChatUsage(usage));
    await expectLogged([usage]);
  });

  test('chat.completions.create streaming with include_usage', async () => {
    const reply = 'Chunked chat reply from the fake.';
    upstream.setReply(reply);
    const before = turns().length;
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    const usages: unknown[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usages.push(chunk.usage);
    }
    const usage = fakeUsage(oneTurnSince(before), reply);
    expect(text).toBe(reply);
    expect(finish).toBe('stop');
    expect(usages).toEqual([asChatUsage(usage)]);
    await expectLogged([usage]);
  });

  test('cached and reasoning tokens: responses.create with include and a reused prompt_cache_key', async () => {
    const cacheKey = `v1-clients-${Math.random().toString(36).slice(2)}`;
    const ask = () => client.responses.create({ model: MODEL, input: 'Say hello', include: ['reasoning.encrypted_content'], prompt_cache_key: cacheKey });
    let before = turns().length;
    const first = await ask();
    const firstUsage = fakeUsage(oneTurnSince(before), DEFAULT_REPLY);
    before = turns().length;
    const second = await ask();
    const secondUsage = fakeUsage(oneTurnSince(before), DEFAULT_REPLY);
    expect(first.output_text).toBe(DEFAULT_REPLY);
    expect(second.output_text).toBe(DEFAULT_REPLY);
    expect(first.usage).toEqual(firstUsage);
    expect(second.usage).toEqual(secondUsage);
    // The fake reports reasoning tokens when asked for encrypted reasoning, and a cache hit the second time.
    expect(firstUsage.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    expect(firstUsage.input_tokens_details.cached_tokens).toBe(0);
    expect(secondUsage.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    await expectLogged([firstUsage, secondUsage]);
  });

  test('cached tokens on chat completions: a reused prompt_cache_key', async () => {
    const cacheKey = `v1-clients-chat-${Math.random().toString(36).slice(2)}`;
    const ask = () => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello' }], prompt_cache_key: cacheKey });
    let before = turns().length;
    const first = await ask();
    const firstUsage = fakeUsage(oneTurnSince(before), DEFAULT_REPLY);
    before = turns().length;
    const second = await ask();
    const secondUsage = fakeUsage(oneTurnSince(before), DEFAULT_REPLY);
    expect(first.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(second.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(first.usage).toEqual(asChatUsage(firstUsage));
    expect(second.usage).toEqual(asChatUsage(secondUsage));
    expect(secondUsage.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    await expectLogged([firstUsage, secondUsage]);
  });

  test('chat tool-call round trip without streaming: tool_calls, then the tool result, then the answer', async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'Use tools when asked.' },
      { role: 'user', content: 'call_tool: what is the weather in Paris?' },
    ];
    // 1. The model asks for the tool.
    let before = turns().length;
    const first = await client.chat.completions.create({ model: MODEL, messages, tools: [weatherTool], tool_choice: 'auto' });
    const firstTurn = oneTurnSince(before);
    const firstUsage = fakeUsage(firstTurn, TOOL_CALL_ARGUMENTS);
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls![0]!;
    expect(call.type).toBe('function');
    if (call.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('get_weather');
    expect(call.function.arguments).toBe(TOOL_CALL_ARGUMENTS);
    expect(call.id).toMatch(/^call_/);
    expect(first.usage).toEqual(asChatUsage(firstUsage));
    // The upstream got the tool as a flat Responses function tool, strict schema untouched.
    expect(bodyOf(firstTurn).tools).toEqual([{ type: 'function', name: 'get_weather', description: 'Weather search', parameters: weatherTool.function.parameters, strict: true }]);
    expect(bodyOf(firstTurn).instructions).toBe('Use tools when asked.');

    // 2. The tool result goes back; the model answers with text.
    const answer = 'It is sunny in Paris, 21 degrees.';
    upstream.setReply(answer);
    messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '{"forecast":"sunny","celsius":21}' });
    before = turns().length;
    const second = await client.chat.completions.create({ model: MODEL, messages, tools: [weatherTool] });
    const secondTurn = oneTurnSince(before);
    const secondUsage = fakeUsage(secondTurn, answer);
    expect(second.choices[0]!.finish_reason).toBe('stop');
    expect(second.choices[0]!.message.content).toBe(answer);
    expect(second.choices[0]!.message.tool_calls).toBeUndefined();
    expect(second.usage).toEqual(asChatUsage(secondUsage));
    // The upstream saw the call and its output, paired by the call id the client got.
    const input = bodyOf(secondTurn).input as JsonObject[];
    expect(input.slice(-2)).toEqual([
      { type: 'function_call', call_id: call.id, name: 'get_weather', arguments: TOOL_CALL_ARGUMENTS },
      { type: 'function_call_output', call_id: call.id, output: '{"forecast":"sunny","celsius":21}' },
    ]);
    await expectLogged([firstUsage, secondUsage]);
  });

  test('structured output: chat response_format json_schema (strict) reaches the upstream as text.format', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, celsius: { type: 'number' } }, required: ['city', 'celsius'], additionalProperties: false };
    const reply = '{"city":"Paris","celsius":21}';
    upstream.setReply(reply);
    const before = turns().length;
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather in Paris as JSON' }],
      response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema } },
    });
    const turn = oneTurnSince(before);
    const usage = fakeUsage(turn, reply);
    expect(bodyOf(turn).text).toEqual({ format: { type: 'json_schema', name: 'weather', strict: true, schema } });
    expect(completion.choices[0]!.message.content).toBe(reply);
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ city: 'Paris', celsius: 21 });
    expect(completion.usage).toEqual(asChatUsage(usage));
    await expectLogged([usage]);
  });

  test('structured output: chat.completions.parse with a zod response format', async () => {
    const Weather = z.object({ city: z.string(), celsius: z.number() });
    const reply = '{"city":"Oslo","celsius":-3}';
    upstream.setReply(reply);
    const before = turns().length;
    const completion = await client.chat.completions.parse({ model: MODEL, messages: [{ role: 'user', content: 'Weather in Oslo' }], response_format: zodResponseFormat(Weather, 'weather') });
    const turn = oneTurnSince(before);
    const format = (bodyOf(turn).text as JsonObject).format as JsonObject;
    expect(format).toMatchObject({ type: 'json_schema', name: 'weather', strict: true, schema: { type: 'object', required: ['city', 'celsius'] } });
    expect(completion.choices[0]!.message.parsed).toEqual({ city: 'Oslo', celsius: -3 });
    expect(completion.usage).toEqual(asChatUsage(fakeUsage(turn, reply)));
  });

  test('structured output: responses.parse with text.format json_schema', async () => {
    const Weather = z.object({ city: z.string(), celsius: z.number() });
    const reply = '{"city":"Lima","celsius":18}';
    upstream.setReply(reply);
    const before = turns().length;
    const response = await client.responses.parse({ model: MODEL, input: 'Weather in Lima', text: { format: zodTextFormat(Weather, 'weather') } });
    const turn = oneTurnSince(before);
    const format = (bodyOf(turn).text as JsonObject).format as JsonObject;
    expect(format).toMatchObject({ type: 'json_schema', name: 'weather', strict: true, schema: { type: 'object', required: ['city', 'celsius'] } });
    expect(response.output_text).toBe(reply);
    expect(response.output_parsed).toEqual({ city: 'Lima', celsius: 18 });
    expect(response.usage).toEqual(fakeUsage(turn, reply));
  });

  test('models.retrieve: the entry docs/clients.md shows', async () => {
    const before = upstream.requests.length;
    expect(await client.models.retrieve(MODEL)).toEqual({
      id: 'gpt-5.4',
      object: 'model',
      created: 0,
      owned_by: 'codex-pooler',
      permission: [],
      input_modalities: ['text', 'image'],
      display_name: 'gpt-5.4',
      supports_streaming: true,
      supports_tools: true,
      supports_reasoning: true,
      context_length: 258400,
    });
    expect(upstream.requests.length).toBe(before);
  });
});

// ---------------------------------------------------------------- Vercel AI SDK

const weatherInput = jsonSchema<{ query: string; limit: number }>({
  type: 'object',
  properties: { query: { type: 'string' }, limit: { type: 'integer' } },
  required: ['query', 'limit'],
  additionalProperties: false,
});

describe('Vercel AI SDK (ai + @ai-sdk/openai with baseURL) against /v1: exact text and usage', () => {
  const provider = () => createOpenAI({ apiKey: seeded.key, baseURL: `${gateway.url}/v1` });
  const models = [
    ['responses', () => provider().responses(MODEL)],
    ['chat', () => provider().chat(MODEL)],
  ] as const;

  for (const [kind, model] of models) {
    test(`generateText through the ${kind} model`, async () => {
      const reply = `Generated through the ${kind} model.`;
      upstream.setReply(reply);
      const before = turns().length;
      const result = await generateText({ model: model(), prompt: 'Say hello', maxRetries: 0 });
      const usage = fakeUsage(oneTurnSince(before), reply);
      expect(result.text).toBe(reply);
      expect(result.finishReason).toBe('stop');
      expect(aiUsageOf(result.usage)).toEqual(asAiUsage(usage));
      await expectLogged([usage]);
    });

    test(`streamText through the ${kind} model`, async () => {
      const reply = `Streamed through the ${kind} model, in pieces.`;
      upstream.setReply(reply);
      const before = turns().length;
      const result = streamText({ model: model(), prompt: 'Say hello', maxRetries: 0 });
      let text = '';
      for await (const part of result.textStream) text += part;
      const usage = fakeUsage(oneTurnSince(before), reply);
      expect(text).toBe(reply);
      expect(await result.finishReason).toBe('stop');
      expect(aiUsageOf(await result.usage)).toEqual(asAiUsage(usage));
      await expectLogged([usage]);
    });

    test(`cached and reasoning tokens through the ${kind} model`, async () => {
      const providerOptions = { openai: { promptCacheKey: `v1-clients-ai-${kind}-${Math.random().toString(36).slice(2)}`, ...(kind === 'responses' ? { include: ['reasoning.encrypted_content'] } : {}) } };
      const usages: Usage[] = [];
      for (let i = 0; i < 2; i++) {
        const before = turns().length;
        const result = await generateText({ model: model(), prompt: 'Say hello', providerOptions, maxRetries: 0 });
        const usage = fakeUsage(oneTurnSince(before), DEFAULT_REPLY);
        expect(result.text).toBe(DEFAULT_REPLY);
        expect(aiUsageOf(result.usage)).toEqual(asAiUsage(usage));
        usages.push(usage);
      }
      expect(usages[1]!.input_tokens_details.cached_tokens).toBeGreaterThan(0);
      if (kind === 'responses') expect(usages[0]!.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
      await expectLogged(usages);
    });

    test(`generateText with a tool call through the ${kind} model`, async () => {
      const before = turns().length;
      const result = await generateText({
        model: model(),
        prompt: 'call_tool: weather in Paris',
        tools: { get_weather: tool({ description: 'Weather search', inputSchema: weatherInput }) },
        maxRetries: 0,
      });
      const turn = oneTurnSince(before);
      const usage = fakeUsage(turn, TOOL_CALL_ARGUMENTS);
      expect(result.finishReason).toBe('tool-calls');
      expect(result.text).toBe('');
      expect(result.toolCalls).toHaveLength(1);
      expect(result.toolCalls[0]).toMatchObject({ toolName: 'get_weather', input: TOOL_ARGS });
      expect(aiUsageOf(result.usage)).toEqual(asAiUsage(usage));
      const tools = bodyOf(turn).tools as JsonObject[];
      expect(tools).toEqual([expect.objectContaining({ type: 'function', name: 'get_weather', parameters: expect.objectContaining({ required: ['query', 'limit'] }) })]);
      await expectLogged([usage]);
    });

    test(`streamText with a tool call, executed, then the final answer (two steps) through the ${kind} model`, async () => {
      const answer = `Sunny, said the ${kind} model after the tool ran.`;
      const executed: unknown[] = [];
      const before = turns().length;
      const result = streamText({
        model: model(),
        prompt: 'call_tool: weather in Paris',
        tools: {
          get_weather: tool({
            description: 'Weather search',
            inputSchema: weatherInput,
            execute: async (input) => {
              executed.push(input);
              upstream.setReply(answer); // the next turn (after the tool result) answers with text
              return { forecast: 'sunny', celsius: 21 };
            },
          }),
        },
        stopWhen: stepCountIs(2),
        // docs/clients.md: with store:false the Responses model replays items inline (the default
        // store:true, item_reference replays, is covered by v1-item-references.test.ts).
        ...(kind === 'responses' ? { providerOptions: { openai: { store: false } } } : {}),
        maxRetries: 0,
      });
      const toolCalls: unknown[] = [];
      let text = '';
      for await (const part of result.fullStream) {
        if (part.type === 'tool-call') toolCalls.push({ toolName: part.toolName, input: part.input });
        if (part.type === 'text-delta') text += part.text;
        if (part.type === 'error') throw part.error;
      }
      const seen = turnsSince(before);
      expect(seen).toHaveLength(2);
      const [first, second] = seen as [RecordedRequest, RecordedRequest];
      const usages = [fakeUsage(first, TOOL_CALL_ARGUMENTS), fakeUsage(second, answer)];
      expect(toolCalls).toEqual([{ toolName: 'get_weather', input: TOOL_ARGS }]);
      expect(executed).toEqual([TOOL_ARGS]);
      expect(text).toBe(answer);
      const steps = await result.steps;
      expect(steps.map((step) => step.finishReason)).toEqual(['tool-calls', 'stop']);
      expect(steps.map((step) => aiUsageOf(step.usage))).toEqual(usages.map(asAiUsage));
      const total = await result.totalUsage;
      expect(total.inputTokens).toBe(usages[0]!.input_tokens + usages[1]!.input_tokens);
      expect(total.outputTokens).toBe(usages[0]!.output_tokens + usages[1]!.output_tokens);
      // The second turn replays the call and carries its output with the same call id.
      const input = bodyOf(second).input as JsonObject[];
      const call = input.find((item) => item.type === 'function_call');
      const output = input.find((item) => item.type === 'function_call_output');
      expect(call).toMatchObject({ name: 'get_weather', arguments: TOOL_CALL_ARGUMENTS });
      expect(output).toMatchObject({ call_id: call!.call_id });
      expect(JSON.parse(output!.output as string)).toEqual({ forecast: 'sunny', celsius: 21 });
      expect(input.filter((item) => item.type === 'item_reference')).toEqual([]);
      if (kind === 'responses') {
        // With store:false the SDK asks for encrypted reasoning and replays it inline.
        expect(bodyOf(first).include).toContain('reasoning.encrypted_content');
        expect(input).toContainEqual(expect.objectContaining({ type: 'reasoning', encrypted_content: expect.stringMatching(/^gAAAAA/) }));
      }
      await expectLogged(usages);
    });
  }
});

// ---------------------------------------------------------------- bad requests

type BadCase = { name: string; path: '/v1/chat/completions' | '/v1/responses'; body: unknown; param: string; code?: string };

const strictBadSchema = { type: 'array', items: { type: 'string' } };
const BAD_REQUESTS: BadCase[] = [
  { name: 'chat: missing model', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'hi' }] }, param: 'model' },
  { name: 'responses: missing model', path: '/v1/responses', body: { input: 'hi' }, param: 'model' },
  { name: 'chat: model is not a string', path: '/v1/chat/completions', body: { model: 42, messages: [{ role: 'user', content: 'hi' }] }, param: 'model' },
  { name: 'chat: messages is a string', path: '/v1/chat/completions', body: { model: MODEL, messages: 'x' }, param: 'messages' },
  { name: 'chat: missing messages', path: '/v1/chat/completions', body: { model: MODEL }, param: 'messages' },
  { name: 'responses: input is a number', path: '/v1/responses', body: { model: MODEL, input: 42 }, param: 'input' },
  { name: 'responses: missing input', path: '/v1/responses', body: { model: MODEL }, param: 'input' },
  { name: 'chat: temperature is a string', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: 'hot' }, param: 'temperature' },
  { name: 'responses: stream is a string', path: '/v1/responses', body: { model: MODEL, input: 'hi', stream: 'yes' }, param: 'stream' },
  { name: 'chat: max_tokens is not a positive integer', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: -5 }, param: 'max_tokens' },
  { name: 'chat: tools is an object', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], tools: { type: 'function' } }, param: 'tools' },
  { name: 'chat: message content is a number', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 7 }] }, param: 'messages[0].content' },
  { name: 'chat: unknown message role', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }, { role: 'wizard', content: 'x' }] }, param: 'messages[1].role' },
  { name: 'responses: unknown message role', path: '/v1/responses', body: { model: MODEL, input: [{ role: 'wizard', content: 'x' }] }, param: 'input[0].role' },
  {
    name: 'chat: strict response_format with a non-object schema',
    path: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema: strictBadSchema } } },
    param: 'response_format.json_schema.schema',
    code: 'invalid_json_schema',
  },
  {
    name: 'chat: json_schema response_format without a schema object',
    path: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: 'not a schema' } } },
    param: 'response_format.json_schema.schema',
    code: 'invalid_json_schema',
  },
  {
    name: 'chat: strict function tool with a non-object schema',
    path: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', strict: true, parameters: strictBadSchema } }] },
    param: 'tools[0].function.parameters',
    code: 'invalid_function_parameters',
  },
  {
    name: 'responses: strict text.format with a non-object schema',
    path: '/v1/responses',
    body: { model: MODEL, input: 'hi', text: { format: { type: 'json_schema', name: 'x', strict: true, schema: strictBadSchema } } },
    param: 'text.format.schema',
    code: 'invalid_json_schema',
  },
  {
    name: 'responses: strict function tool with a non-object schema',
    path: '/v1/responses',
    body: { model: MODEL, input: 'hi', tools: [{ type: 'function', name: 'f', strict: true, parameters: strictBadSchema }] },
    param: 'tools[0].parameters',
    code: 'invalid_function_parameters',
  },
  { name: 'chat: n above 1', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2 }, param: 'n', code: 'unsupported_parameter' },
  { name: 'chat: logprobs', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], logprobs: true }, param: 'logprobs', code: 'unsupported_parameter' },
  { name: 'chat: stop sequences', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stop: ['\n'] }, param: 'stop', code: 'unsupported_parameter' },
  { name: 'responses: unknown top-level key', path: '/v1/responses', body: { model: MODEL, input: 'hi', frobnicate: true }, param: 'frobnicate', code: 'unsupported_parameter' },
  { name: 'chat: tool_choice names an undeclared tool', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, param: 'tool_choice.name' },
  { name: 'responses: remote MCP tools', path: '/v1/responses', body: { model: MODEL, input: 'hi', tools: [{ type: 'mcp', server_label: 'x', server_url: 'https://example.com' }] }, param: 'tools[0].type' },
];

describe('bad requests: 400 in the OpenAI error envelope, with param, never sent upstream', () => {
  for (const bad of BAD_REQUESTS) {
    test(bad.name, async () => {
      const before = upstream.requests.length;
      const response = await fetch(`${gateway.url}${bad.path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${seeded.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(bad.body),
      });
      const body = (await response.json()) as { error: Record<string, unknown> };
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toEqual({ message: expect.any(String), type: 'invalid_request_error', code: bad.code ?? expect.any(String), param: bad.param });
      expect((body.error.message as string).length).toBeGreaterThan(0);
      expect(upstream.requests.length).toBe(before);
    });
  }

  test('malformed JSON: 400 envelope, nothing sent upstream', async () => {
    const before = upstream.requests.length;
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seeded.key}`, 'content-type': 'application/json' },
      body: '{"model": "gpt-5.4", "messages": [',
    });
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(response.status).toBe(400);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', message: 'request body must be valid JSON' });
    expect(upstream.requests.length).toBe(before);
  });

  test('the openai SDK surfaces param, code and status on its error', async () => {
    const before = upstream.requests.length;
    const error = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'wizard' as 'user', content: 'x' }] })
      .then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, param: 'messages[0].role', type: 'invalid_request_error' });
    const schemaError = await client.responses
      .create({ model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'x', strict: true, schema: strictBadSchema } } })
      .then(() => null, (e: unknown) => e);
    expect(schemaError).toMatchObject({ status: 400, param: 'text.format.schema', code: 'invalid_json_schema' });
    expect(upstream.requests.length).toBe(before);
  });
});
