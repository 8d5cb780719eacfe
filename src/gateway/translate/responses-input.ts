import { invalidRequest } from './request-error.ts';
import { isNonBlank, isObject, type JsonObject } from './json.ts';

/**
 * Normalises a `/v1/responses` `input` (runtime spec §9.1): a string becomes one user message;
 * `system`/`developer` text is lifted into `instructions`; role `tool` becomes a
 * `function_call_output`; stateless reasoning replays are dropped; call ids missing from
 * call/output pairs (OpenCode replays) are recovered. Item types the upstream knows pass through.
 */

const ROLES = new Set(['user', 'assistant', 'system', 'developer', 'tool']);
const ITEM_TYPES = new Set([
  'message', 'reasoning', 'compaction', 'compaction_trigger', 'program', 'program_output', 'function_call', 'function_call_output',
  'custom_tool_call', 'custom_tool_call_output', 'input_file', 'item_reference', 'shell_call', 'shell_call_output', 'additional_tools',
  // Decision (§15, issue 5): tool-call history that Codex and agent SDKs replay is passed through as well.
  'local_shell_call', 'local_shell_call_output', 'web_search_call', 'image_generation_call', 'tool_search_call', 'tool_search_output',
  'file_search_call', 'code_interpreter_call', 'computer_call', 'computer_call_output', 'apply_patch_call', 'apply_patch_call_output',
  'configuration_update',
]);
/** Future tool-call history items (`*_call`, `*_call_output`) pass through without a code change. */
const TOOL_ITEM = /^[a-z][a-z0-9_]*_call(_output)?$/;
const TEXT_PARTS = new Set(['input_text', 'output_text', 'text']);

export type NormalisedInput = { input: JsonObject[]; instructions: string | undefined; hasToolOutput: boolean };

const userText = (text: string): JsonObject => ({ type: 'input_text', text });

function partsOf(content: unknown, param: string): JsonObject[] {
  if (typeof content === 'string') return [{ type: 'input_text', text: content }];
  if (!Array.isArray(content)) throw invalidRequest('message content must be a string or an array of parts', param);
  return content.map((part, j) => {
    if (!isObject(part) || typeof part.type !== 'string') throw invalidRequest('content part shape is not translatable', `${param}[${j}]`);
    if (TEXT_PARTS.has(part.type) && typeof part.text !== 'string') throw invalidRequest('text parts need a text string', `${param}[${j}].text`);
    return part;
  });
}

/** Text of a tool result given as a string or as text parts. */
export function outputText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  return partsOf(content, param)
    .map((part) => (typeof part.text === 'string' ? part.text : ''))
    .join('');
}

type Lift = { lifted: string[] };

function messageItem(item: JsonObject, param: string, lift: Lift): JsonObject | null {
  const role = item.role;
  if (typeof role !== 'string' || !ROLES.has(role)) throw invalidRequest('message role must be one of user, assistant, system, developer, tool', `${param}.role`);
  if (role === 'tool') {
    const callId = item.tool_call_id ?? item.call_id;
    const out: JsonObject = { type: 'function_call_output', output: outputText(item.content, `${param}.content`) };
    if (isNonBlank(callId)) out.call_id = callId;
    return out;
  }
  const parts = partsOf(item.content, `${param}.content`);
  if (role === 'system' || role === 'developer') {
    const text = parts.filter((part) => TEXT_PARTS.has(part.type as string)).map((part) => part.text as string);
    if (text.length > 0) lift.lifted.push(text.join('\n'));
    const rest = parts.filter((part) => !TEXT_PARTS.has(part.type as string));
    return rest.length > 0 ? { type: 'message', role: 'developer', content: rest } : null;
  }
  const content =
    role === 'assistant'
      ? parts.map((part) => (part.type === 'input_text' || part.type === 'text' ? { ...part, type: 'output_text' } : part))
      : parts.map((part) => (part.type === 'text' ? userText(part.text as string) : part));
  return { ...item, type: 'message', role, content };
}

/**
 * Pairs calls and outputs that lack a `call_id`: a call gets a generated id, and an output without
 * one takes the oldest unanswered recovered call (adjacent pairs, or parallel calls then outputs).
 */
class CallIdRecovery {
  #pending: string[] = [];
  #count = 0;

  call(item: JsonObject): JsonObject {
    if (isNonBlank(item.call_id)) return item;
    const callId = `call_recovered_${this.#count++}`;
    this.#pending.push(callId);
    return { ...item, call_id: callId };
  }

  output(item: JsonObject, param: string): JsonObject {
    if (isNonBlank(item.call_id)) return item;
    const callId = this.#pending.shift();
    if (callId === undefined) throw invalidRequest('tool outputs need a call_id', `${param}.call_id`);
    return { ...item, call_id: callId };
  }
}

const isCall = (type: string): boolean => type === 'function_call' || type === 'custom_tool_call';
/** `function_call_output`, `custom_tool_call_output`, `program_output`, `shell_call_output`, … */
const isToolOutput = (type: string): boolean => type.endsWith('_output');

/** Validates and normalises `input`; `instructions` is the body's own value (lifted text is appended). */
export function normaliseInput(input: unknown, instructions: string | undefined): NormalisedInput {
  const items = typeof input === 'string' ? [{ type: 'message', role: 'user', content: [userText(input)] }] : input;
  if (!Array.isArray(items)) throw invalidRequest('input must be a string or an array', 'input');
  const lift: Lift = { lifted: [] };
  const recovery = new CallIdRecovery();
  const out: JsonObject[] = [];
  let hasToolOutput = false;
  items.forEach((raw, i) => {
    const param = `input[${i}]`;
    if (!isObject(raw)) throw invalidRequest('input item shape is not translatable', param);
    const type = raw.type ?? (raw.role !== undefined ? 'message' : undefined);
    if (typeof type !== 'string' || !(ITEM_TYPES.has(type) || TOOL_ITEM.test(type))) throw invalidRequest('input item shape is not translatable', param);
    let item: JsonObject | null = type === 'message' ? messageItem(raw, param, lift) : raw;
    if (item === null) return;
    const itemType = item.type as string;
    // Stateless reasoning replays (no encrypted content) cannot be resolved upstream with store:false.
    if (itemType === 'reasoning' && !isNonBlank(item.encrypted_content)) return;
    if (isCall(itemType)) item = recovery.call(item);
    else if (itemType === 'function_call_output' || itemType === 'custom_tool_call_output') item = recovery.output(item, param);
    if (isToolOutput(itemType)) hasToolOutput = true;
    out.push(item);
  });
  const parts = [instructions ?? '', ...lift.lifted].filter((text) => text !== '');
  return { input: out, instructions: parts.length > 0 ? parts.join('\n') : instructions, hasToolOutput };
}
