import { describe, expect, test } from 'vitest';
import { chatToResponsesRequest } from './chat-request.ts';
import { refusal } from './fixtures.ts';

const user = (text: string) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] });
const WEATHER_PARAMETERS = { type: 'object', properties: { location: { type: 'string', description: 'City and country e.g. Bogotá, Colombia' } }, required: ['location'], additionalProperties: false };

describe('chatToResponsesRequest: SDK bodies', () => {
  test('system + user with service_tier fast (spec §14 #45)', () => {
    expect(chatToResponsesRequest({ model: 'gpt-x', service_tier: 'fast', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] })).toEqual({
      request: { model: 'gpt-x', instructions: 'Be brief.', input: [user('hi')], service_tier: 'priority', stream: true, store: false },
      includeUsage: false,
      stream: false,
    });
  });

  test('OpenAI Python: one nested function tool and a named tool_choice (spec §14 #46)', () => {
    const { request } = chatToResponsesRequest({
      model: 'gpt-x',
      messages: [{ role: 'user', content: 'What is the weather like in Paris today?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Get current temperature for a given location.', parameters: WEATHER_PARAMETERS, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(request.tools).toEqual([{ type: 'function', name: 'get_weather', description: 'Get current temperature for a given location.', parameters: WEATHER_PARAMETERS, strict: true }]);
    expect(request.tool_choice).toEqual({ type: 'function', name: 'get_weather' });
  });

  test('OpenAI Node: a nested custom tool with a named custom choice', () => {
    const { request } = chatToResponsesRequest({
      model: 'gpt-x',
      messages: [{ role: 'user', content: 'Use the code_exec tool to print hello world.' }],
      tools: [{ type: 'custom', custom: { name: 'code_exec', description: 'Executes arbitrary python code', format: { type: 'text' } } }],
      tool_choice: { type: 'custom', custom: { name: 'code_exec' } },
    });
    expect(request.tools).toEqual([{ type: 'custom', name: 'code_exec', description: 'Executes arbitrary python code', format: { type: 'text' } }]);
    expect(request.tool_choice).toEqual({ type: 'custom', name: 'code_exec' });
  });

  test('structured output: json_schema strict becomes text.format (spec §14 #47), with verbosity', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    const { request } = chatToResponsesRequest({ model: 'gpt-x', messages: [{ role: 'user', content: 'q' }], response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } }, verbosity: 'low' });
    expect(request.text).toEqual({ format: { type: 'json_schema', name: 's', schema, strict: true }, verbosity: 'low' });
    expect(chatToResponsesRequest({ model: 'gpt-x', messages: [{ role: 'user', content: 'q' }], response_format: { type: 'json_object' } }).request.text).toEqual({ format: { type: 'json_object' } });
  });

  test('Vercel AI SDK chat model: developer message, tools, stream with include_usage, max_completion_tokens', () => {
    const translation = chatToResponsesRequest({
      model: 'gpt-x',
      max_completion_tokens: 512,
      reasoning_effort: 'LOW',
      response_format: { type: 'json_schema', json_schema: { schema: { type: 'object', properties: {}, additionalProperties: false }, strict: true, name: 'response' } },
      messages: [
        { role: 'developer', content: 'You are a weather bot.' },
        { role: 'user', content: [{ type: 'text', text: 'Paris?' }] },
      ],
      tools: [{ type: 'function', function: { name: 'weather', description: 'Get the weather', parameters: WEATHER_PARAMETERS, strict: true } }],
      tool_choice: 'auto',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(translation.includeUsage).toBe(true);
    expect(translation.stream).toBe(true);
    expect(translation.request).toMatchObject({ instructions: 'You are a weather bot.', input: [user('Paris?')], max_output_tokens: 512, reasoning: { effort: 'low' }, tool_choice: 'auto', stream: true, store: false });
    expect(translation.request).not.toHaveProperty('stream_options');
  });

  test('a tool-call round trip: assistant tool_calls and tool results (parallel calls)', () => {
    const { request } = chatToResponsesRequest({
      model: 'gpt-x',
      messages: [
        { role: 'user', content: 'Weather in Paris and Tokyo?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'call_tokyo', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_paris', content: '18C' },
        { role: 'tool', tool_call_id: 'call_tokyo', content: [{ type: 'text', text: '25C' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Paris 18C, Tokyo 25C.' }] },
        { role: 'user', content: 'thanks', name: 'alice' },
      ],
      parallel_tool_calls: true,
    });
    expect(request.input).toEqual([
      user('Weather in Paris and Tokyo?'),
      { type: 'function_call', call_id: 'call_paris', name: 'get_weather', arguments: '{"location":"Paris"}' },
      { type: 'function_call', call_id: 'call_tokyo', name: 'get_weather', arguments: '{"location":"Tokyo"}' },
      { type: 'function_call_output', call_id: 'call_paris', output: '18C' },
      { type: 'function_call_output', call_id: 'call_tokyo', output: '25C' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Paris 18C, Tokyo 25C.' }] },
      user('thanks'),
    ]);
    expect(request.parallel_tool_calls).toBe(true);
  });

  test('a custom tool round trip: custom_tool_call and custom_tool_call_output', () => {
    const { request } = chatToResponsesRequest({
      model: 'gpt-x',
      messages: [
        { role: 'user', content: 'patch it' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call_p', type: 'custom', custom: { name: 'apply_patch', input: '*** Begin Patch' } }] },
        { role: 'tool', tool_call_id: 'call_p', content: 'Done' },
      ],
      tools: [{ type: 'custom', custom: { name: 'apply_patch' } }],
    });
    expect(request.input).toEqual([user('patch it'), { type: 'custom_tool_call', call_id: 'call_p', name: 'apply_patch', input: '*** Begin Patch' }, { type: 'custom_tool_call_output', call_id: 'call_p', output: 'Done' }]);
  });

  test('user content parts: images (string and object url), files and audio', () => {
    const { request } = chatToResponsesRequest({
      model: 'gpt-x',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe these.' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'high' } },
            { type: 'image_url', image_url: 'data:image/png;base64,AAAA' },
            { type: 'file', file: { file_id: 'file-abc' } },
            { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBE' } },
            { type: 'input_audio', input_audio: { data: 'UklGR', format: 'wav' } },
          ],
        },
      ],
    });
    expect(request.input).toEqual([
      {
        type: 'message',
        role: 'user',
        content: [
          { type: 'input_text', text: 'Describe these.' },
          { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'high' },
          { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'auto' },
          { type: 'input_file', file_id: 'file-abc' },
          { type: 'input_file', filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBE' },
          { type: 'input_audio', input_audio: { data: 'UklGR', format: 'wav' } },
        ],
      },
    ]);
  });

  test('accepted and dropped: n:1, explicit nulls, max_tokens when max_completion_tokens is absent, include_obfuscation', () => {
    const { request, includeUsage } = chatToResponsesRequest({ model: 'gpt-x', n: 1, stop: null, temperature: null, max_tokens: 64, messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: false, include_obfuscation: true } });
    expect(request).toEqual({ model: 'gpt-x', instructions: '', input: [user('x')], max_output_tokens: 64, stream: true, store: false });
    expect(includeUsage).toBe(false);
  });

  test('messages absent with input present: the body is a Responses body answered as chat', () => {
    const translation = chatToResponsesRequest({ model: 'gpt-x', input: 'hi', messages: [], stream: true, stream_options: { include_usage: true } });
    expect(translation).toEqual({ request: { model: 'gpt-x', instructions: '', input: [user('hi')], stream: true, store: false }, includeUsage: true, stream: true });
  });
});

describe('chatToResponsesRequest: refusals (400, param named)', () => {
  const base = { model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] };
  test.each([
    ['body not an object', 'x', 'invalid_request', null, undefined],
    ['missing model', { messages: base.messages }, 'invalid_request', 'model', 'model is required'],
    ['missing messages', { model: 'gpt-x' }, 'invalid_request', 'messages', 'messages is required'],
    ['empty messages without input', { model: 'gpt-x', messages: [] }, 'invalid_request', 'messages', 'messages must be a non-empty array'],
    ['messages not an array', { model: 'gpt-x', messages: 'hi' }, 'invalid_request', 'messages', 'messages must be a non-empty array'],
    ['n above 1', { ...base, n: 2 }, 'unsupported_parameter', 'n', 'Unsupported parameter: n'],
    ['logprobs', { ...base, logprobs: true }, 'unsupported_parameter', 'logprobs', 'Unsupported parameter: logprobs'],
    ['top_logprobs', { ...base, top_logprobs: 3 }, 'unsupported_parameter', 'top_logprobs', undefined],
    ['stop', { ...base, stop: ['\n'] }, 'unsupported_parameter', 'stop', undefined],
    ['seed', { ...base, seed: 1 }, 'unsupported_parameter', 'seed', undefined],
    ['presence_penalty', { ...base, presence_penalty: 0.5 }, 'unsupported_parameter', 'presence_penalty', undefined],
    ['user', { ...base, user: 'u1' }, 'unsupported_parameter', 'user', undefined],
    ['modalities', { ...base, modalities: ['text', 'audio'] }, 'unsupported_parameter', 'modalities', undefined],
    ['an unknown key', { ...base, instructions: 'x' }, 'unsupported_parameter', 'instructions', undefined],
    ['legacy functions', { ...base, functions: [{ name: 'f' }] }, 'invalid_request', 'functions', 'legacy functions are not translatable'],
    ['legacy function_call', { ...base, function_call: 'auto' }, 'invalid_request', 'function_call', 'legacy functions are not translatable'],
    ['an unknown message role', { model: 'gpt-x', messages: [{ role: 'robot', content: 'x' }] }, 'invalid_request', 'messages[0].role', undefined],
    ['a legacy function message', { model: 'gpt-x', messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'invalid_request', 'messages[0].role', 'legacy functions are not translatable'],
    ['an unknown content part', { model: 'gpt-x', messages: [{ role: 'user', content: [{ type: 'video', video: {} }] }] }, 'invalid_request', 'messages[0].content[0].type', undefined],
    ['an image in a system message', { model: 'gpt-x', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: 'https://x' }] }] }, 'invalid_request', 'messages[0].content[0].type', undefined],
    ['a tool call without a function name', { model: 'gpt-x', messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: {} }] }] }, 'invalid_request', 'messages[0].tool_calls[0].function.name', undefined],
    ['response_format of another type', { ...base, response_format: { type: 'grammar' } }, 'unsupported_parameter', 'response_format', undefined],
    ['strict json_schema with a non-object root', { ...base, response_format: { type: 'json_schema', json_schema: { name: 's', strict: true, schema: { anyOf: [] } } } }, 'invalid_json_schema', 'response_format.json_schema.schema', undefined],
    ['json_schema without a schema', { ...base, response_format: { type: 'json_schema', json_schema: { name: 's' } } }, 'invalid_json_schema', 'response_format.json_schema.schema', undefined],
    ['strict function parameters without an object root', { ...base, tools: [{ type: 'function', function: { name: 'f', strict: true, parameters: { type: 'string' } } }] }, 'invalid_function_parameters', 'tools[0].function.parameters', undefined],
    ['a tool_choice naming an undeclared function', { ...base, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }, 'invalid_request', 'tool_choice.name', undefined],
    ['service_tier ultrafast', { ...base, service_tier: 'ultrafast' }, 'invalid_request', 'service_tier', undefined],
    ['max_tokens 0', { ...base, max_tokens: 0 }, 'invalid_request', 'max_tokens', undefined],
    ['verbosity', { ...base, verbosity: 'loud' }, 'invalid_request', 'verbosity', undefined],
    ['reasoning_effort', { ...base, reasoning_effort: 'very high' }, 'invalid_request', 'reasoning_effort', undefined],
    ['an unknown stream_options key', { ...base, stream_options: { chunk_size: 5 } }, 'unsupported_parameter', 'stream_options.chunk_size', undefined],
    ['include_usage not a boolean', { ...base, stream_options: { include_usage: 'yes' } }, 'invalid_request', 'stream_options.include_usage', undefined],
    ['temperature of the wrong type', { ...base, temperature: '0.2' }, 'invalid_request', 'temperature', undefined],
  ] as [string, unknown, string, string | null, string | undefined][])('%s', (_name, body, code, param, message) => {
    const error = refusal(() => chatToResponsesRequest(body));
    expect(error).toMatchObject({ status: 400, code, param });
    if (message !== undefined) expect(error.message).toBe(message);
  });
});
