import { invalidRequest, unsupportedParameter, v1RequestError } from './request-error.ts';
import { isNonBlank, isObject, isPositiveInt, type JsonObject } from './json.ts';
import { normaliseInput } from './responses-input.ts';
import { hasObjectRoot, validateToolChoice, validateTools } from './responses-tools.ts';

/**
 * `/v1/responses` body → upstream Responses body (runtime spec §9.1, §5.3 "`/v1` forces
 * `stream:true`, `store:false`"). Pure: throws a 400 PoolerError naming `param` on a bad request.
 * The result still goes through the gateway's per-attempt rewriting (model id, dropped sampling
 * keys, reasoning/include defaults) like a native body.
 */

const FORWARDED = new Set([
  'client_metadata', 'include', 'input', 'instructions', 'max_output_tokens', 'metadata', 'model', 'moderation', 'parallel_tool_calls',
  'previous_response_id', 'prompt_cache_key', 'prompt_cache_options', 'prompt_cache_retention', 'reasoning', 'safety_identifier',
  'service_tier', 'store', 'stream', 'stream_options', 'temperature', 'text', 'tool_choice', 'tools', 'top_p',
]);
/** Validated, never forwarded. */
const VALIDATED_ONLY = new Set(['truncation']);

const SERVICE_TIERS = new Set(['auto', 'default', 'flex', 'priority', 'scale', 'ultrafast']);
const REASONING_SUMMARIES = new Set(['auto', 'concise', 'detailed']);
const REASONING_CONTEXTS = new Set(['auto', 'current_turn', 'all_turns']);
const VERBOSITIES = new Set(['low', 'medium', 'high']);
const EFFORT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export function isValidEffort(value: unknown): value is string {
  return typeof value === 'string' && EFFORT.test(value) && !/__|--|_-|-_/.test(value);
}

/** Checks keys: `logprobs` first, then any key that is not forwarded. Explicit `null` means "not given". */
function checkKeys(body: JsonObject): void {
  if (body.logprobs !== undefined && body.logprobs !== null) throw unsupportedParameter('logprobs');
  for (const [key, value] of Object.entries(body)) {
    if (value === null) continue;
    if (!FORWARDED.has(key) && !VALIDATED_ONLY.has(key)) throw unsupportedParameter(key);
  }
}

function expect(ok: boolean, message: string, param: string): void {
  if (!ok) throw invalidRequest(message, param);
}

function checkReasoning(reasoning: unknown): JsonObject {
  expect(isObject(reasoning), 'reasoning must be an object', 'reasoning');
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(reasoning as JsonObject)) {
    if (value === null) continue;
    if (key === 'effort') expect(isValidEffort(value), 'reasoning effort is not valid', 'reasoning.effort');
    else if (key === 'summary') expect(REASONING_SUMMARIES.has(value as string), 'reasoning summary must be auto, concise or detailed', 'reasoning.summary');
    else if (key === 'context') expect(REASONING_CONTEXTS.has(value as string), 'reasoning context must be auto, current_turn or all_turns', 'reasoning.context');
    else throw invalidRequest(`unknown reasoning key ${key}`, `reasoning.${key}`);
    out[key] = value;
  }
  return out;
}

/** Validates `text.format` (and `verbosity`); a strict json_schema needs an object root. */
export function checkText(text: unknown, param = 'text'): JsonObject {
  expect(isObject(text), 'text must be an object', param);
  const out = { ...(text as JsonObject) };
  if (out.verbosity !== undefined && out.verbosity !== null) expect(VERBOSITIES.has(out.verbosity as string), 'verbosity must be low, medium or high', `${param}.verbosity`);
  const format = out.format;
  if (format === undefined || format === null) return out;
  expect(isObject(format) && typeof format.type === 'string', 'text.format must be an object with a type', `${param}.format`);
  const { type } = format as JsonObject;
  if (type === 'json_schema') {
    const schemaFormat = format as JsonObject;
    expect(isNonBlank(schemaFormat.name), 'json_schema format needs a name', `${param}.format.name`);
    if (!isObject(schemaFormat.schema)) throw v1RequestError('invalid_json_schema', 'json_schema format needs a schema object', `${param}.format.schema`);
    if (schemaFormat.strict === true && !hasObjectRoot(schemaFormat.schema)) {
      throw v1RequestError('invalid_json_schema', 'a strict JSON schema needs an object root', `${param}.format.schema`);
    }
  } else expect(type === 'text' || type === 'json_object', 'text.format type must be text, json_object or json_schema', `${param}.format.type`);
  return out;
}

function checkScalars(body: JsonObject): void {
  const typed: [string, string, (value: unknown) => boolean][] = [
    ['instructions', 'a string', (v) => typeof v === 'string'],
    ['prompt_cache_key', 'a string', (v) => typeof v === 'string'],
    ['prompt_cache_retention', 'a string', (v) => typeof v === 'string'],
    ['safety_identifier', 'a string', (v) => typeof v === 'string'],
    ['parallel_tool_calls', 'a boolean', (v) => typeof v === 'boolean'],
    ['store', 'a boolean', (v) => typeof v === 'boolean'],
    ['stream', 'a boolean', (v) => typeof v === 'boolean'],
    ['temperature', 'a number', (v) => typeof v === 'number' && Number.isFinite(v)],
    ['top_p', 'a number', (v) => typeof v === 'number' && Number.isFinite(v)],
    ['metadata', 'an object', isObject],
    ['client_metadata', 'an object', isObject],
    ['include', 'an array of strings', (v) => Array.isArray(v) && v.every((entry) => typeof entry === 'string')],
    ['max_output_tokens', 'a positive integer', isPositiveInt],
    ['previous_response_id', 'a non-blank string', isNonBlank],
    ['truncation', 'auto or disabled', (v) => v === 'auto' || v === 'disabled'],
  ];
  for (const [key, what, ok] of typed) if (body[key] !== undefined && body[key] !== null) expect(ok(body[key]), `${key} must be ${what}`, key);
}

function checkOptions(body: JsonObject, out: JsonObject): void {
  if (body.service_tier !== undefined && body.service_tier !== null) {
    const tier = body.service_tier === 'fast' ? 'priority' : body.service_tier;
    expect(SERVICE_TIERS.has(tier as string), 'service_tier is not valid', 'service_tier');
    out.service_tier = tier;
  }
  if (body.moderation !== undefined && body.moderation !== null) {
    const moderation = body.moderation;
    expect(isObject(moderation) && Object.keys(moderation).length === 1 && isNonBlank(moderation.model), 'moderation must be {"model": <name>}', 'moderation');
  }
  if (body.stream_options !== undefined && body.stream_options !== null) {
    const options = body.stream_options;
    expect(isObject(options), 'stream_options must be an object', 'stream_options');
    for (const [key, value] of Object.entries(options as JsonObject)) {
      expect(key === 'include_obfuscation', `unknown stream_options key ${key}`, `stream_options.${key}`);
      expect(typeof value === 'boolean', 'include_obfuscation must be a boolean', 'stream_options.include_obfuscation');
    }
  }
  if (body.prompt_cache_options !== undefined && body.prompt_cache_options !== null) {
    const options = body.prompt_cache_options;
    expect(isObject(options), 'prompt_cache_options must be an object', 'prompt_cache_options');
    for (const [key, value] of Object.entries(options as JsonObject)) {
      if (key === 'mode') expect(value === 'implicit' || value === 'explicit', 'mode must be implicit or explicit', 'prompt_cache_options.mode');
      else if (key === 'ttl') expect(value === '30m', 'ttl must be "30m"', 'prompt_cache_options.ttl');
      else throw invalidRequest(`unknown prompt_cache_options key ${key}`, `prompt_cache_options.${key}`);
    }
  }
}

/** Validates a `/v1/responses` body and returns the upstream body (`stream:true`, `store:false`). */
export function toUpstreamResponsesRequest(body: unknown): JsonObject {
  if (!isObject(body)) throw invalidRequest('request body must be a JSON object', null);
  if (!isNonBlank(body.model)) throw invalidRequest('model is required', 'model');
  checkKeys(body);
  checkScalars(body);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(body)) if (value !== null && FORWARDED.has(key)) out[key] = value;
  out.model = body.model.trim();
  checkOptions(body, out);
  if (out.reasoning !== undefined) out.reasoning = checkReasoning(out.reasoning);
  if (out.text !== undefined) out.text = checkText(out.text);
  if (out.tools !== undefined) out.tools = validateTools(out.tools);
  if (out.tool_choice !== undefined) out.tool_choice = validateToolChoice(out.tool_choice, (out.tools as JsonObject[] | undefined) ?? []);
  if (body.input === undefined || body.input === null) throw invalidRequest('input is required', 'input');
  const normalised = normaliseInput(body.input, out.instructions as string | undefined);
  out.input = normalised.input;
  out.instructions = normalised.instructions ?? '';
  if (out.previous_response_id !== undefined && !normalised.hasToolOutput) {
    throw invalidRequest('previous_response_id requires a tool-output continuation', 'previous_response_id');
  }
  out.stream = true;
  out.store = false;
  return out;
}
