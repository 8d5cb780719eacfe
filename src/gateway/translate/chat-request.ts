import { invalidRequest, unsupportedParameter, v1RequestError } from './request-error.ts';
import { chatMessagesToInput } from './chat-messages.ts';
import { isNonBlank, isObject, isPositiveInt, type JsonObject } from './json.ts';
import { isValidEffort, toUpstreamResponsesRequest } from './responses-request.ts';
import { hasObjectRoot } from './responses-tools.ts';

/**
 * `/v1/chat/completions` body → upstream Responses body (runtime spec §9.3). The mapped body then
 * passes the shared Responses validation (§9.1), so both surfaces refuse the same things.
 *
 * Silent drops (documented): explicit `null` values (treated as absent); `n: 1`; a message's
 * `name` and an assistant's `audio`; `stream_options.include_obfuscation`; `store` (forced false).
 */

export type ChatTranslation = {
  /** Upstream Responses body (`stream:true`, `store:false`). */
  request: JsonObject;
  /** `stream_options.include_usage`: send a usage chunk before `[DONE]`. */
  includeUsage: boolean;
  /** Whether the client asked for a streamed answer (the upstream call always streams). */
  stream: boolean;
};

/** Rejected when present (400 `unsupported_parameter` naming the key); `n: 1` is accepted. */
const REJECTED = new Set(['audio', 'frequency_penalty', 'logit_bias', 'logprobs', 'modalities', 'n', 'prediction', 'presence_penalty', 'seed', 'stop', 'top_logprobs', 'user', 'web_search_options']);
/** Copied unchanged to the Responses body (validated there). */
const COPIED = ['parallel_tool_calls', 'metadata', 'moderation', 'prompt_cache_key', 'prompt_cache_options', 'prompt_cache_retention', 'safety_identifier', 'service_tier', 'store', 'stream', 'temperature', 'top_p'];
const MAPPED = ['model', 'messages', 'tools', 'tool_choice', 'response_format', 'verbosity', 'reasoning_effort', 'max_tokens', 'max_completion_tokens', 'stream_options'];
const KNOWN = new Set([...COPIED, ...MAPPED]);

function checkKeys(body: JsonObject): void {
  for (const [key, value] of Object.entries(body)) {
    if (value === null) continue;
    if (key === 'functions' || key === 'function_call') throw invalidRequest('legacy functions are not translatable', key);
    if (key === 'n' && value === 1) continue;
    if (REJECTED.has(key) || !KNOWN.has(key)) throw unsupportedParameter(key);
  }
}

/** `stream_options{include_usage}`; `include_obfuscation` is tolerated and dropped. */
function includeUsageOf(options: unknown): boolean {
  if (options === undefined || options === null) return false;
  if (!isObject(options)) throw invalidRequest('stream_options must be an object', 'stream_options');
  for (const [key, value] of Object.entries(options)) {
    if (key !== 'include_usage' && key !== 'include_obfuscation') throw unsupportedParameter(`stream_options.${key}`);
    if (typeof value !== 'boolean') throw invalidRequest(`${key} must be a boolean`, `stream_options.${key}`);
  }
  return options.include_usage === true;
}

function chatTool(tool: unknown, param: string): unknown {
  if (!isObject(tool)) throw invalidRequest('tool shape is not translatable', param);
  if (tool.type === 'function' && isObject(tool.function)) {
    const fn = tool.function;
    if (!isNonBlank(fn.name)) throw invalidRequest('function tools need a name', `${param}.function.name`);
    if (fn.parameters !== undefined && fn.parameters !== null && !isObject(fn.parameters)) {
      throw v1RequestError('invalid_function_parameters', 'function parameters must be a JSON schema object', `${param}.function.parameters`);
    }
    if (fn.strict === true && !hasObjectRoot(fn.parameters)) {
      throw v1RequestError('invalid_function_parameters', 'strict function parameters need a JSON schema with an object root', `${param}.function.parameters`);
    }
    return dropNulls({ type: 'function', name: fn.name, description: fn.description, parameters: fn.parameters, strict: fn.strict });
  }
  if (tool.type === 'custom' && isObject(tool.custom)) {
    const custom = tool.custom;
    if (!isNonBlank(custom.name)) throw invalidRequest('custom tools need a name', `${param}.custom.name`);
    return dropNulls({ type: 'custom', name: custom.name, description: custom.description, format: custom.format });
  }
  // Flat function tools and hosted tool types go to the shared Responses validation as they are.
  return tool;
}

function chatToolChoice(choice: unknown): unknown {
  if (!isObject(choice)) return choice;
  if (choice.type === 'function' && isObject(choice.function)) return { type: 'function', name: choice.function.name };
  if (choice.type === 'custom' && isObject(choice.custom)) return { type: 'custom', name: choice.custom.name };
  if (choice.type === 'allowed_tools' && isObject(choice.allowed_tools)) {
    const { mode, tools } = choice.allowed_tools;
    const flat = Array.isArray(tools) ? tools.map((tool) => (isObject(tool) && isObject(tool.function) ? { type: 'function', name: tool.function.name } : isObject(tool) && isObject(tool.custom) ? { type: 'custom', name: tool.custom.name } : tool)) : tools;
    return { type: 'allowed_tools', mode, tools: flat };
  }
  return choice;
}

function textFormat(format: unknown): JsonObject {
  if (!isObject(format) || typeof format.type !== 'string') throw invalidRequest('response_format must be an object with a type', 'response_format');
  if (format.type === 'text' || format.type === 'json_object') return { type: format.type };
  if (format.type !== 'json_schema') throw unsupportedParameter('response_format');
  const spec = format.json_schema;
  if (!isObject(spec)) throw v1RequestError('invalid_json_schema', 'json_schema response_format needs a json_schema object', 'response_format.json_schema');
  if (!isNonBlank(spec.name)) throw invalidRequest('json_schema needs a name', 'response_format.json_schema.name');
  if (!isObject(spec.schema)) throw v1RequestError('invalid_json_schema', 'json_schema needs a schema object', 'response_format.json_schema.schema');
  if (spec.strict === true && !hasObjectRoot(spec.schema)) throw v1RequestError('invalid_json_schema', 'a strict JSON schema needs an object root', 'response_format.json_schema.schema');
  return dropNulls({ ...spec, type: 'json_schema' });
}

function maxOutputTokens(body: JsonObject): number | undefined {
  for (const key of ['max_completion_tokens', 'max_tokens']) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    if (!isPositiveInt(value)) throw invalidRequest(`${key} must be a positive integer`, key);
    return value;
  }
  return undefined;
}

function dropNulls(object: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined && value !== null));
}

/** A Chat body without `messages` but with `input` is a Responses body answered as a chat completion. */
function responsesShaped(body: JsonObject): ChatTranslation {
  const { messages: _messages, stream_options: options, ...rest } = body;
  const includeUsage = includeUsageOf(options);
  const obfuscation = isObject(options) && options.include_obfuscation !== undefined ? { include_obfuscation: options.include_obfuscation } : undefined;
  const request = toUpstreamResponsesRequest(obfuscation ? { ...rest, stream_options: obfuscation } : rest);
  return { request, includeUsage, stream: body.stream === true };
}

/** Validates a Chat Completions body and maps it onto an upstream Responses body. */
export function chatToResponsesRequest(body: unknown): ChatTranslation {
  if (!isObject(body)) throw invalidRequest('request body must be a JSON object', null);
  if (!isNonBlank(body.model)) throw invalidRequest('model is required', 'model');
  const messages = body.messages;
  const noMessages = messages === undefined || messages === null || (Array.isArray(messages) && messages.length === 0);
  if (noMessages && body.input !== undefined && body.input !== null) return responsesShaped(body);
  if (messages === undefined || messages === null) throw invalidRequest('messages is required', 'messages');
  if (!Array.isArray(messages) || messages.length === 0) throw invalidRequest('messages must be a non-empty array', 'messages');
  checkKeys(body);

  const out: JsonObject = { model: body.model, input: chatMessagesToInput(messages) };
  for (const key of COPIED) if (body[key] !== undefined && body[key] !== null) out[key] = body[key];
  if (out.service_tier === 'ultrafast') throw invalidRequest('service_tier ultrafast is not available on chat completions', 'service_tier');
  const tokens = maxOutputTokens(body);
  if (tokens !== undefined) out.max_output_tokens = tokens;
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) throw invalidRequest('tools must be an array', 'tools');
    out.tools = body.tools.map((tool, i) => chatTool(tool, `tools[${i}]`));
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null) out.tool_choice = chatToolChoice(body.tool_choice);
  if (body.reasoning_effort !== undefined && body.reasoning_effort !== null) {
    const effort = typeof body.reasoning_effort === 'string' ? body.reasoning_effort.toLowerCase() : body.reasoning_effort;
    if (!isValidEffort(effort)) throw invalidRequest('reasoning_effort is not valid', 'reasoning_effort');
    out.reasoning = { effort };
  }
  const text: JsonObject = {};
  if (body.response_format !== undefined && body.response_format !== null) text.format = textFormat(body.response_format);
  if (body.verbosity !== undefined && body.verbosity !== null) {
    if (body.verbosity !== 'low' && body.verbosity !== 'medium' && body.verbosity !== 'high') throw invalidRequest('verbosity must be low, medium or high', 'verbosity');
    text.verbosity = body.verbosity;
  }
  if (Object.keys(text).length > 0) out.text = text;
  const includeUsage = includeUsageOf(body.stream_options);
  return { request: toUpstreamResponsesRequest(out), includeUsage, stream: body.stream === true };
}
