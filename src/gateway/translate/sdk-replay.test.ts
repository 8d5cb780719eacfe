/**
 * The translators' output read by the real client SDKs: each test hands the SDK a `fetch` that
 * answers with frames translated from a recorded upstream stream (no network, no gateway).
 * Guards against shapes an SDK rejects (e.g. the openai SDK's strict Responses stream checks).
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { describe, expect, test } from 'vitest';
import { chatCompletionFromResponse } from './chat-completion.ts';
import { chatToResponsesRequest } from './chat-request.ts';
import { createChatStreamState, finishChatStream, toChatChunks } from './chat-stream.ts';
import { fixtureEvents, type FixtureName } from './fixtures.ts';
import { collectResponse } from './response-collector.ts';
import { toUpstreamResponsesRequest } from './responses-request.ts';
import { createResponsesStreamState, finishResponsesStream, toV1ResponsesEvents } from './responses-stream.ts';

type Route = 'responses' | 'chat';

/** A fetch that translates the client's body (checking it is accepted) and answers from a fixture. */
function fakeFetch(fixture: FixtureName, seen: unknown[] = []): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const route: Route = url.endsWith('/chat/completions') ? 'chat' : 'responses';
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    seen.push(route === 'chat' ? chatToResponsesRequest(body).request : toUpstreamResponsesRequest(body));
    const events = fixtureEvents(fixture);
    const streamed = body.stream === true;
    if (!streamed) {
      const collected = collectResponse(events);
      if (!collected.ok) return Response.json(collected.body, { status: collected.status });
      const json = route === 'chat' ? chatCompletionFromResponse(collected.response, String(body.model)) : collected.response;
      return Response.json(json);
    }
    let frames: string[];
    if (route === 'chat') {
      const options = chatToResponsesRequest(body);
      const state = createChatStreamState({ model: String(body.model), includeUsage: options.includeUsage });
      frames = [...events.flatMap((event) => toChatChunks(event, state)), ...finishChatStream(state)];
    } else {
      const state = createResponsesStreamState();
      frames = [...events.flatMap((event) => toV1ResponsesEvents(event, state)), ...finishResponsesStream(state)];
    }
    return new Response(frames.join(''), { headers: { 'content-type': 'text/event-stream' } });
  };
}

const openai = (fixture: FixtureName, seen?: unknown[]) => new OpenAI({ apiKey: 'sk-test', baseURL: 'http://gateway.test/v1', fetch: fakeFetch(fixture, seen), maxRetries: 0 });
const vercel = (fixture: FixtureName) => createOpenAI({ apiKey: 'sk-test', baseURL: 'http://gateway.test/v1', fetch: fakeFetch(fixture) });

describe('openai SDK', () => {
  test('responses.create, non-streaming', async () => {
    const response = await openai('text-basic').responses.create({ model: 'gpt-x', input: 'hi' });
    expect(response.output_text).toBe('Hello, world!');
    expect(response.usage?.input_tokens_details.cached_tokens).toBe(16);
  });

  test('responses.stream: text deltas and the final response', async () => {
    const stream = openai('text-basic').responses.stream({ model: 'gpt-x', input: 'hi' });
    const deltas: string[] = [];
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(deltas.join('')).toBe('Hello, world!');
    expect(final.output_text).toBe('Hello, world!');
    expect(final.usage?.total_tokens).toBe(33);
  });

  test('responses.stream: function calls whose terminal output was back-filled', async () => {
    const final = await openai('function-call').responses.stream({ model: 'gpt-x', input: 'weather?', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false }] }).finalResponse();
    expect(final.output.map((item) => (item.type === 'function_call' ? item.arguments : null))).toEqual(['{"city":"Paris"}', '{"city":"Tokyo"}']);
  });

  test('responses.stream: an interrupted upstream surfaces as an error', async () => {
    await expect(openai('eof-mid-stream').responses.stream({ model: 'gpt-x', input: 'hi' }).finalResponse()).rejects.toThrow();
  });

  test('chat.completions.create, non-streaming, with usage details', async () => {
    const completion = await openai('text-basic').chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]?.message.content).toBe('Hello, world!');
    expect(completion.usage).toMatchObject({ prompt_tokens: 21, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 16 }, completion_tokens_details: { reasoning_tokens: 8 } });
  });

  test('chat.completions.stream: parallel tool calls assembled from split argument deltas', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const stream = openai('function-call').chat.completions.stream({ model: 'gpt-x', messages: [{ role: 'user', content: 'weather?' }], tools, stream_options: { include_usage: true } });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(final.choices[0]?.message.tool_calls?.map((call) => (call.type === 'function' ? [call.id, call.function.arguments] : null))).toEqual([
      ['call_paris', '{"city":"Paris"}'],
      ['call_tokyo', '{"city":"Tokyo"}'],
    ]);
    expect(final.usage?.total_tokens).toBe(90);
  });

  test('structured output: a strict JSON schema reaches the upstream as text.format', async () => {
    const seen: unknown[] = [];
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    await openai('text-basic', seen).chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'q' }], response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } } });
    await openai('text-basic', seen).responses.create({ model: 'gpt-x', input: 'q', text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } } });
    expect(seen.map((body) => (body as { text: unknown }).text)).toEqual([
      { format: { type: 'json_schema', name: 'answer', schema, strict: true } },
      { format: { type: 'json_schema', name: 'answer', schema, strict: true } },
    ]);
  });

  test('chat.completions streaming: a failure before output is an APIError', async () => {
    const run = async () => {
      const stream = await openai('failure-before-output').chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }], stream: true });
      for await (const _chunk of stream) void _chunk;
    };
    await expect(run()).rejects.toThrow(/upstream request failed/);
  });
});

describe('Vercel AI SDK', () => {
  test('generateText with the responses model', async () => {
    const result = await generateText({ model: vercel('text-basic').responses('gpt-x'), prompt: 'hi' });
    expect(result.text).toBe('Hello, world!');
    expect(result.usage.inputTokens).toBe(21);
  });

  test('streamText with the responses model', async () => {
    const result = streamText({ model: vercel('text-basic').responses('gpt-x'), prompt: 'hi' });
    expect(await result.text).toBe('Hello, world!');
  });

  test('generateText and streamText with the chat model', async () => {
    expect((await generateText({ model: vercel('text-basic').chat('gpt-x'), prompt: 'hi' })).text).toBe('Hello, world!');
    const streamed = streamText({ model: vercel('text-basic').chat('gpt-x'), prompt: 'hi' });
    expect(await streamed.text).toBe('Hello, world!');
    expect((await streamed.usage).outputTokens).toBe(12);
  });

  test('streamText with the chat model: a tool call', async () => {
    const result = streamText({
      model: vercel('function-call').chat('gpt-x'),
      prompt: 'weather?',
      tools: { get_weather: tool({ description: 'weather', inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }) }) },
    });
    const calls = await result.toolCalls;
    expect(calls.map((call) => [call.toolCallId, call.input])).toEqual([
      ['call_paris', { city: 'Paris' }],
      ['call_tokyo', { city: 'Tokyo' }],
    ]);
    expect(await result.finishReason).toBe('tool-calls');
  });
});
