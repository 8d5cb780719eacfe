import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { DEFAULT_REPLY, TOOL_CALL_ARGUMENTS, startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;
let key: string;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  ({ key } = await seedPool(gateway, upstream, 2, 'v1'));
  client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

describe('openai SDK against /v1', () => {
  test('responses.create without streaming', async () => {
    const response = await client.responses.create({ model: 'gpt-5.4', input: 'Say hello', temperature: 0.2, max_output_tokens: 200 });
    expect(response.output_text).toBe(DEFAULT_REPLY);
    expect(response.usage?.input_tokens).toBeGreaterThan(0);
  });

  test('responses.stream yields text deltas and a final response, never codex.* events', async () => {
    const stream = client.responses.stream({ model: 'gpt-5.4', input: [{ role: 'user', content: 'Say hello' }], instructions: 'be brief' });
    const types = new Set<string>();
    let text = '';
    for await (const event of stream) {
      types.add(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    const final = await stream.finalResponse();
    expect(text).toBe(DEFAULT_REPLY);
    expect(final.output_text).toBe(DEFAULT_REPLY);
    expect([...types].some((t) => t.startsWith('codex.'))).toBe(false);
    expect(types.has('response.completed')).toBe(true);
  });

  test('chat.completions without streaming, with usage', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-5.4', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello' }], n: 1 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  test('chat.completions streaming with include_usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-5.4', messages: [{ role: 'user', content: 'hello' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    let finish = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(DEFAULT_REPLY);
    expect(finish).toBe('stop');
    expect(usage?.total_tokens).toBeGreaterThan(0);
  });

  test('chat.completions function calling, streaming: finish_reason tool_calls', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-5.4', messages: [{ role: 'user', content: 'call_tool please' }], tools: [weatherTool], tool_choice: 'auto', stream: true });
    let args = '';
    let name = '';
    let finish = null;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        name ||= call.function?.name ?? '';
        args += call.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual(JSON.parse(TOOL_CALL_ARGUMENTS));
    expect(finish).toBe('tool_calls');
  });

  test('unsupported parameters get a 400 naming them', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-5.4', messages: [{ role: 'user', content: 'x' }], n: 2 })).rejects.toMatchObject({ status: 400, param: 'n' });
    await expect(client.chat.completions.create({ model: 'gpt-5.4', messages: [{ role: 'user', content: 'x' }], logprobs: true })).rejects.toMatchObject({ status: 400, param: 'logprobs' });
  });

  test('models list carries context_length', async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toEqual(['gpt-5.3-codex', 'gpt-5.4', 'gpt-5.4-mini']);
    const one = await client.models.retrieve('gpt-5.4');
    expect(one.id).toBe('gpt-5.4');
  });

  test('a bad key is a 401 before anything else', async () => {
    const bad = new OpenAI({ apiKey: 'sk-cxp-000000000000-' + 'x'.repeat(43), baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await expect(bad.models.list()).rejects.toMatchObject({ status: 401 });
  });

  test('upstream errors are redacted for /v1 clients', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'v1-err');
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'status', status: 400, body: { error: { code: 'context_length_exceeded', message: 'secret provider text about acct' } }, on: 'responses' });
    const c = new OpenAI({ apiKey: seeded.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = (await c.responses.create({ model: 'gpt-5.4', input: 'x' }).catch((e: unknown) => e)) as { status: number; message: string; code: string };
    expect(error.status).toBe(400);
    expect(error.code).toBe('context_length_exceeded');
    expect(error.message).not.toContain('secret provider text');
  });
});

describe('Vercel AI SDK against /v1', () => {
  test('generateText and streamText through the Responses model', async () => {
    const provider = createOpenAI({ apiKey: key, baseURL: `${gateway.url}/v1` });
    const generated = await generateText({ model: provider.responses('gpt-5.4'), prompt: 'Say hello' });
    expect(generated.text).toBe(DEFAULT_REPLY);
    const streamed = streamText({ model: provider.responses('gpt-5.4'), prompt: 'Say hello' });
    let text = '';
    for await (const part of streamed.textStream) text += part;
    expect(text).toBe(DEFAULT_REPLY);
  });

  test('generateText through the Chat model', async () => {
    const provider = createOpenAI({ apiKey: key, baseURL: `${gateway.url}/v1` });
    const generated = await generateText({ model: provider.chat('gpt-5.4'), prompt: 'Say hello' });
    expect(generated.text).toBe(DEFAULT_REPLY);
  });
});
