import { invalidRequest, v1RequestError } from './request-error.ts';
import { isNonBlank, isObject, type JsonObject } from './json.ts';

/**
 * Validation of Responses `tools` and `tool_choice` (runtime spec §9.1 with the §15 decision):
 * `function`, `custom` and `namespace` are checked because the gateway reads them; every other tool
 * type the upstream may accept (`local_shell`, `web_search`, `tool_search`, `image_generation`,
 * `programmatic_tool_calling`, …) passes through unchanged so Codex and other agents work over `/v1`.
 * Only `mcp` (remote MCP servers) and shapes that are not a typed object are refused.
 */

const TOOL_TYPE = /^[a-z][a-z0-9_.-]{0,63}$/;
const CHOICE_MODES = new Set(['auto', 'none', 'required']);

/** A strict JSON schema must have a concrete `object` root (a `type:"object"` schema). */
export function hasObjectRoot(schema: unknown): boolean {
  return isObject(schema) && schema.type === 'object';
}

function functionTool(tool: JsonObject, param: string): JsonObject {
  // Tolerated: the Chat nesting `{type:"function",function:{…}}` sent to /v1/responses is flattened.
  const source = isObject(tool.function) ? { ...tool.function, type: 'function' } : tool;
  if (!isNonBlank(source.name)) throw invalidRequest('function tools need a name', `${param}.name`);
  if (source.parameters !== undefined && source.parameters !== null && !isObject(source.parameters)) {
    throw v1RequestError('invalid_function_parameters', 'function parameters must be a JSON schema object', `${param}.parameters`);
  }
  if (source.strict !== undefined && source.strict !== null && typeof source.strict !== 'boolean') throw invalidRequest('strict must be a boolean', `${param}.strict`);
  if (source.strict === true && !hasObjectRoot(source.parameters)) {
    throw v1RequestError('invalid_function_parameters', 'strict function parameters need a JSON schema with an object root', `${param}.parameters`);
  }
  if (source.description !== undefined && source.description !== null && typeof source.description !== 'string') throw invalidRequest('description must be a string', `${param}.description`);
  return source;
}

function customTool(tool: JsonObject, param: string): JsonObject {
  const source = isObject(tool.custom) ? { ...tool.custom, type: 'custom' } : tool;
  if (!isNonBlank(source.name)) throw invalidRequest('custom tools need a name', `${param}.name`);
  if (source.format !== undefined && source.format !== null && !(isObject(source.format) && typeof source.format.type === 'string')) {
    throw invalidRequest('custom tool format must be an object with a type', `${param}.format`);
  }
  return source;
}

function namespaceTool(tool: JsonObject, param: string): JsonObject {
  if (!isNonBlank(tool.name)) throw invalidRequest('namespace tools need a name', `${param}.name`);
  if (tool.description !== undefined && typeof tool.description !== 'string') throw invalidRequest('description must be a string', `${param}.description`);
  if (!Array.isArray(tool.tools) || tool.tools.length === 0) throw invalidRequest('namespace tools need a non-empty tools array', `${param}.tools`);
  return { ...tool, tools: validateToolList(tool.tools, `${param}.tools`) };
}

function validateTool(tool: unknown, param: string): JsonObject {
  if (!isObject(tool) || typeof tool.type !== 'string' || !TOOL_TYPE.test(tool.type)) throw invalidRequest('tool shape is not translatable', param);
  switch (tool.type) {
    case 'function':
      return functionTool(tool, param);
    case 'custom':
      return customTool(tool, param);
    case 'namespace':
      return namespaceTool(tool, param);
    case 'mcp':
      throw invalidRequest('remote MCP tools are not supported', `${param}.type`);
    default:
      return tool;
  }
}

function validateToolList(tools: unknown[], param: string): JsonObject[] {
  const names = new Set<string>();
  return tools.map((raw, i) => {
    const tool = validateTool(raw, `${param}[${i}]`);
    if (typeof tool.name === 'string' && (tool.type === 'function' || tool.type === 'custom' || tool.type === 'namespace')) {
      if (names.has(tool.name)) throw invalidRequest('tool names must be unique', `${param}[${i}].name`);
      names.add(tool.name);
    }
    return tool;
  });
}

/** Validates `tools`; returns the list with Chat-style nesting flattened. */
export function validateTools(tools: unknown, param = 'tools'): JsonObject[] {
  if (!Array.isArray(tools)) throw invalidRequest('tools must be an array', param);
  return validateToolList(tools, param);
}

/** Names a `tool_choice` may point at: function and custom tools, also inside namespaces. */
function declaredNames(tools: JsonObject[]): Set<string> {
  const names = new Set<string>();
  for (const tool of tools) {
    if ((tool.type === 'function' || tool.type === 'custom') && typeof tool.name === 'string') names.add(tool.name);
    if (tool.type === 'namespace' && Array.isArray(tool.tools)) for (const name of declaredNames(tool.tools as JsonObject[])) names.add(name);
  }
  return names;
}

/** Validates `tool_choice` against the declared tools; returns it with Chat nesting flattened. */
export function validateToolChoice(choice: unknown, tools: JsonObject[], param = 'tool_choice'): unknown {
  if (typeof choice === 'string') {
    if (!CHOICE_MODES.has(choice)) throw invalidRequest('tool_choice must be auto, none or required', param);
    return choice;
  }
  if (!isObject(choice) || typeof choice.type !== 'string' || !TOOL_TYPE.test(choice.type)) throw invalidRequest('tool_choice shape is not translatable', param);
  if (choice.type === 'function' || choice.type === 'custom') {
    const nested = choice[choice.type];
    const name = isObject(nested) ? nested.name : choice.name;
    if (!isNonBlank(name)) throw invalidRequest('tool_choice needs a tool name', `${param}.name`);
    if (!declaredNames(tools).has(name)) throw invalidRequest('tool_choice names a tool that is not declared', `${param}.name`);
    return { type: choice.type, name };
  }
  if (choice.type === 'allowed_tools') {
    if (choice.mode !== undefined && choice.mode !== 'auto' && choice.mode !== 'required') throw invalidRequest('allowed_tools mode must be auto or required', `${param}.mode`);
    if (!Array.isArray(choice.tools) || !choice.tools.every((tool) => isObject(tool) && typeof tool.type === 'string')) {
      throw invalidRequest('allowed_tools needs a tools array', `${param}.tools`);
    }
    return choice;
  }
  // Hosted tool choices (`image_generation`, `programmatic_tool_calling`, `web_search`, …) pass through.
  return choice;
}
