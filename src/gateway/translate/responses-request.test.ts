import { describe, expect, test } from 'vitest';
import { refusal } from './fixtures.ts';
import { toUpstreamResponsesRequest } from './responses-request.ts';

const SHELL_TOOL = {
  type: 'function',
  name: 'shell',
  description: 'Runs a shell command and returns its output.',
  strict: false,
  parameters: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } }, workdir: { type: 'string' } }, required: ['command'], additionalProperties: false },
};
const APPLY_PATCH_TOOL = {
  type: 'custom',
  name: 'apply_patch',
  description: 'Use the `apply_patch` tool to edit files.',
  format: { type: 'grammar', syntax: 'lark', definition: 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF' },
};

describe('toUpstreamResponsesRequest: SDK and agent bodies', () => {
  test('OpenAI Node basic Responses: string input becomes one user message; stream and store forced', () => {
    expect(toUpstreamResponsesRequest({ model: 'gpt-x', input: 'hi', stream: false })).toEqual({
      model: 'gpt-x',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }],
      instructions: '',
      stream: true,
      store: false,
    });
  });

  test('Codex CLI through /v1: custom apply_patch, local_shell, web_search and tool history pass through', () => {
    const input = [
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions instructions>sandbox: workspace-write</permissions instructions>' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: '<environment_context>\n  <cwd>/repo</cwd>\n</environment_context>' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'create hello.txt' }] },
      { type: 'reasoning', id: 'rs_1', summary: [], content: null, encrypted_content: 'gAAAAABenc' },
      { type: 'custom_tool_call', id: 'ctc_1', status: 'completed', call_id: 'call_patch', name: 'apply_patch', input: '*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch' },
      { type: 'custom_tool_call_output', call_id: 'call_patch', output: 'Success. Updated the following files:\nA hello.txt' },
      { type: 'local_shell_call', id: 'lsh_1', call_id: 'call_ls', status: 'completed', action: { type: 'exec', command: ['ls'], env: {} } },
      { type: 'function_call_output', call_id: 'call_ls', output: 'hello.txt' },
      { type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'lark grammar' } },
    ];
    const tools = [SHELL_TOOL, APPLY_PATCH_TOOL, { type: 'local_shell' }, { type: 'web_search', external_web_access: false }, { type: 'tool_search', description: 'Search deferred tools' }, { type: 'image_generation', output_format: 'png' }];
    const body = {
      model: 'gpt-5.4',
      instructions: 'You are Codex, a coding agent.',
      input,
      tools,
      tool_choice: 'auto',
      parallel_tool_calls: false,
      reasoning: { effort: 'medium', summary: 'auto' },
      store: false,
      stream: true,
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: '0199a0c2-5b1e-7c33-9a4e-1f2e3d4c5b6a',
      text: { verbosity: 'low' },
      client_metadata: { 'x-codex-installation-id': 'inst-1' },
    };
    const out = toUpstreamResponsesRequest(body);
    expect(out.instructions).toBe('You are Codex, a coding agent.\n<permissions instructions>sandbox: workspace-write</permissions instructions>');
    expect(out.input).toEqual(input.slice(1));
    expect(out.tools).toEqual(tools);
    expect(out).toMatchObject({ tool_choice: 'auto', parallel_tool_calls: false, include: ['reasoning.encrypted_content'], prompt_cache_key: body.prompt_cache_key, text: { verbosity: 'low' }, client_metadata: body.client_metadata, stream: true, store: false });
  });

  test('OpenAI Python Responses: executable custom tool with a typed choice', () => {
    const out = toUpstreamResponsesRequest({
      model: 'gpt-x',
      input: 'Use the code_exec tool to print hello world to the console.',
      tools: [{ type: 'custom', name: 'code_exec', description: 'Executes arbitrary Python code.' }],
      tool_choice: { type: 'custom', name: 'code_exec' },
    });
    expect(out.tool_choice).toEqual({ type: 'custom', name: 'code_exec' });
    expect(out.tools).toEqual([{ type: 'custom', name: 'code_exec', description: 'Executes arbitrary Python code.' }]);
  });

  test('Vercel AI SDK: role-only items, system lifted, flat strict tool, detailed summary, allowed_tools choice', () => {
    const weather = { type: 'function', name: 'weather', description: 'Get the weather', parameters: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: true };
    const out = toUpstreamResponsesRequest({
      model: 'gpt-x',
      input: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'auto' }] },
      ],
      tools: [weather, { type: 'programmatic_tool_calling' }],
      tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'weather' }] },
      reasoning: { effort: 'low', summary: 'detailed' },
      include: ['reasoning.encrypted_content'],
      store: false,
      max_output_tokens: 1024,
      temperature: 0.2,
    });
    expect(out).toEqual({
      model: 'gpt-x',
      instructions: 'You are terse.',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'auto' }] }],
      tools: [weather, { type: 'programmatic_tool_calling' }],
      tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'weather' }] },
      reasoning: { effort: 'low', summary: 'detailed' },
      include: ['reasoning.encrypted_content'],
      max_output_tokens: 1024,
      temperature: 0.2,
      stream: true,
      store: false,
    });
  });

  test('Vercel AI SDK: programmatic tool calling items and a tool-output continuation with item_reference', () => {
    const input = [
      { type: 'item_reference', id: 'fc_0123' },
      { type: 'function_call_output', call_id: 'call_1', output: '{"temperature":21}' },
      { type: 'program', id: 'prg_1', call_id: 'call_prog', code: 'print(1)' },
      { type: 'program_output', call_id: 'call_prog', output: '1' },
    ];
    const out = toUpstreamResponsesRequest({ model: 'gpt-x', previous_response_id: 'resp_prev', input });
    expect(out.previous_response_id).toBe('resp_prev');
    expect(out.input).toEqual(input);
  });

  test('replays: URL-citation assistant message, completed assistant (Hermes), thinking without encrypted content dropped (OpenClaw)', () => {
    const citation = { type: 'output_text', text: 'See docs.', annotations: [{ type: 'url_citation', start_index: 4, end_index: 8, url: 'https://example.com/docs', title: 'Docs' }] };
    const out = toUpstreamResponsesRequest({
      model: 'gpt-x',
      input: [
        { role: 'user', content: 'docs?' },
        { role: 'assistant', id: 'msg_1', content: [citation] },
        { type: 'reasoning', id: 'rs_2', summary: [{ type: 'summary_text', text: 'thinking' }] },
        { type: 'message', role: 'assistant', id: 'msg_2', status: 'completed', content: 'Done.' },
        { role: 'user', content: 'thanks' },
      ],
    });
    expect(out.input).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'docs?' }] },
      { type: 'message', role: 'assistant', id: 'msg_1', content: [citation] },
      { type: 'message', role: 'assistant', id: 'msg_2', status: 'completed', content: [{ type: 'output_text', text: 'Done.' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'thanks' }] },
    ]);
  });

  test('OpenCode replay: call ids missing on call/output pairs are recovered, parallel calls in order', () => {
    const out = toUpstreamResponsesRequest({
      model: 'gpt-x',
      input: [
        { type: 'function_call', name: 'read', arguments: '{"path":"a"}' },
        { type: 'function_call', name: 'read', arguments: '{"path":"b"}' },
        { type: 'function_call_output', output: 'A' },
        { type: 'function_call_output', output: 'B' },
        { role: 'tool', tool_call_id: 'call_known', content: [{ type: 'input_text', text: 'C' }] },
      ],
    });
    expect(out.input).toEqual([
      { type: 'function_call', name: 'read', arguments: '{"path":"a"}', call_id: 'call_recovered_0' },
      { type: 'function_call', name: 'read', arguments: '{"path":"b"}', call_id: 'call_recovered_1' },
      { type: 'function_call_output', output: 'A', call_id: 'call_recovered_0' },
      { type: 'function_call_output', output: 'B', call_id: 'call_recovered_1' },
      { type: 'function_call_output', output: 'C', call_id: 'call_known' },
    ]);
  });

  test('developer text appended to instructions with a newline; non-text developer parts stay as a developer message', () => {
    const image = { type: 'input_image', image_url: 'https://example.com/a.png' };
    const out = toUpstreamResponsesRequest({ model: 'gpt-x', instructions: 'Base.', input: [{ role: 'developer', content: [{ type: 'input_text', text: 'Rule 1.' }, image] }, { role: 'system', content: 'Rule 2.' }, { role: 'user', content: 'go' }] });
    expect(out.instructions).toBe('Base.\nRule 1.\nRule 2.');
    expect(out.input).toEqual([{ type: 'message', role: 'developer', content: [image] }, { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'go' }] }]);
  });

  test('values: fast → priority, truncation validated and dropped, explicit nulls treated as absent, nested function tool flattened', () => {
    const out = toUpstreamResponsesRequest({
      model: ' gpt-x ',
      input: 'x',
      service_tier: 'fast',
      truncation: 'auto',
      user: null,
      previous_response_id: null,
      stream_options: { include_obfuscation: false },
      prompt_cache_options: { mode: 'explicit', ttl: '30m' },
      moderation: { model: 'omni-moderation-latest' },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
    });
    expect(out).toMatchObject({ model: 'gpt-x', service_tier: 'priority', stream_options: { include_obfuscation: false }, tools: [{ type: 'function', name: 'f', parameters: { type: 'object', properties: {} } }], tool_choice: { type: 'function', name: 'f' } });
    expect(out).not.toHaveProperty('truncation');
    expect(out).not.toHaveProperty('user');
    expect(out).not.toHaveProperty('previous_response_id');
  });
});

describe('toUpstreamResponsesRequest: refusals (400, param named)', () => {
  const base = { model: 'gpt-x', input: 'hi' };
  test.each([
    ['body not an object', [], 'invalid_request', null, 'request body must be a JSON object'],
    ['missing model', { input: 'hi' }, 'invalid_request', 'model', 'model is required'],
    ['blank model', { model: '  ', input: 'hi' }, 'invalid_request', 'model', 'model is required'],
    ['logprobs', { ...base, logprobs: true }, 'unsupported_parameter', 'logprobs', 'Unsupported parameter: logprobs'],
    ['user', { ...base, user: 'x' }, 'unsupported_parameter', 'user', 'Unsupported parameter: user'],
    ['background', { ...base, background: true }, 'unsupported_parameter', 'background', undefined],
    ['conversation', { ...base, conversation: 'conv_1' }, 'unsupported_parameter', 'conversation', undefined],
    ['top_logprobs', { ...base, top_logprobs: 2 }, 'unsupported_parameter', 'top_logprobs', undefined],
    ['an unknown key', { ...base, frobnicate: 1 }, 'unsupported_parameter', 'frobnicate', undefined],
    ['missing input', { model: 'gpt-x' }, 'invalid_request', 'input', undefined],
    ['input of the wrong type', { ...base, input: 42 }, 'invalid_request', 'input', undefined],
    ['temperature of the wrong type', { ...base, temperature: 'hot' }, 'invalid_request', 'temperature', 'temperature must be a number'],
    ['instructions of the wrong type', { ...base, instructions: ['a'] }, 'invalid_request', 'instructions', undefined],
    ['remote MCP tool', { ...base, tools: [{ type: 'mcp', server_label: 'x', server_url: 'https://mcp.example' }] }, 'invalid_request', 'tools[0].type', 'remote MCP tools are not supported'],
    ['tools not an array', { ...base, tools: { type: 'function' } }, 'invalid_request', 'tools', 'tools must be an array'],
    ['an untyped tool', { ...base, tools: [{ name: 'f' }] }, 'invalid_request', 'tools[0]', 'tool shape is not translatable'],
    ['duplicate tool names', { ...base, tools: [{ type: 'function', name: 'f' }, { type: 'custom', name: 'f' }] }, 'invalid_request', 'tools[1].name', 'tool names must be unique'],
    ['function without a name', { ...base, tools: [{ type: 'function', parameters: {} }] }, 'invalid_request', 'tools[0].name', undefined],
    ['strict function without an object root', { ...base, tools: [{ type: 'function', name: 'f', strict: true, parameters: { type: 'array' } }] }, 'invalid_function_parameters', 'tools[0].parameters', undefined],
    ['function parameters not an object', { ...base, tools: [{ type: 'function', name: 'f', parameters: 'x' }] }, 'invalid_function_parameters', 'tools[0].parameters', undefined],
    ['empty namespace', { ...base, tools: [{ type: 'namespace', name: 'ns', description: 'd', tools: [] }] }, 'invalid_request', 'tools[0].tools', undefined],
    ['tool_choice naming an undeclared tool', { ...base, tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'function', name: 'g' } }, 'invalid_request', 'tool_choice.name', undefined],
    ['tool_choice of an unknown mode', { ...base, tool_choice: 'sometimes' }, 'invalid_request', 'tool_choice', undefined],
    ['strict json_schema with a non-object root', { ...base, text: { format: { type: 'json_schema', name: 's', strict: true, schema: { type: 'array', items: {} } } } }, 'invalid_json_schema', 'text.format.schema', undefined],
    ['json_schema without a schema', { ...base, text: { format: { type: 'json_schema', name: 's' } } }, 'invalid_json_schema', 'text.format.schema', undefined],
    ['unknown text format', { ...base, text: { format: { type: 'xml' } } }, 'invalid_request', 'text.format.type', undefined],
    ['previous_response_id without tool output', { ...base, previous_response_id: 'resp_1' }, 'invalid_request', 'previous_response_id', 'previous_response_id requires a tool-output continuation'],
    ['an unknown input item type', { ...base, input: [{ type: 'telepathy' }] }, 'invalid_request', 'input[0]', 'input item shape is not translatable'],
    ['an input item that is not an object', { ...base, input: ['hi'] }, 'invalid_request', 'input[0]', undefined],
    ['an unknown message role', { ...base, input: [{ role: 'robot', content: 'x' }] }, 'invalid_request', 'input[0].role', undefined],
    ['message content of the wrong type', { ...base, input: [{ role: 'user', content: 5 }] }, 'invalid_request', 'input[0].content', undefined],
    ['a tool output without any call to answer', { ...base, input: [{ type: 'function_call_output', output: 'x' }] }, 'invalid_request', 'input[0].call_id', undefined],
    ['reasoning effort with a double dash', { ...base, reasoning: { effort: 'x--high' } }, 'invalid_request', 'reasoning.effort', undefined],
    ['an unknown reasoning key', { ...base, reasoning: { effort: 'low', budget: 5 } }, 'invalid_request', 'reasoning.budget', undefined],
    ['reasoning summary', { ...base, reasoning: { summary: 'verbose' } }, 'invalid_request', 'reasoning.summary', undefined],
    ['service tier', { ...base, service_tier: 'turbo' }, 'invalid_request', 'service_tier', undefined],
    ['max_output_tokens 0', { ...base, max_output_tokens: 0 }, 'invalid_request', 'max_output_tokens', undefined],
    ['moderation without a model', { ...base, moderation: {} }, 'invalid_request', 'moderation', undefined],
    ['stream_options.include_usage on Responses', { ...base, stream_options: { include_usage: true } }, 'invalid_request', 'stream_options.include_usage', undefined],
    ['prompt_cache_options ttl', { ...base, prompt_cache_options: { ttl: '1h' } }, 'invalid_request', 'prompt_cache_options.ttl', undefined],
    ['truncation', { ...base, truncation: 'sometimes' }, 'invalid_request', 'truncation', undefined],
  ] as [string, unknown, string, string | null, string | undefined][])('%s', (_name, body, code, param, message) => {
    const error = refusal(() => toUpstreamResponsesRequest(body));
    expect(error).toMatchObject({ status: 400, code, param });
    if (message !== undefined) expect(error.message).toBe(message);
  });
});
