import { invalidRequest } from './request-error.ts';
import { isNonBlank, isObject, type JsonObject } from './json.ts';

/**
 * Chat `messages` → Responses `input` items (runtime spec §9.3 table). System and developer
 * messages become Responses messages of the same role; the shared Responses step lifts their text
 * into `instructions`. Silently dropped: a message's `name`, an assistant's `audio`.
 */

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

type Path = (suffix: string) => string;

function imagePart(part: JsonObject, at: Path): JsonObject {
  const image = part.image_url;
  const url = typeof image === 'string' ? image : isObject(image) ? image.url : undefined;
  if (!isNonBlank(url)) throw invalidRequest('image_url parts need a url', at('.image_url'));
  const detail = isObject(image) && typeof image.detail === 'string' ? image.detail : 'auto';
  return { type: 'input_image', image_url: url, detail };
}

function filePart(part: JsonObject, at: Path): JsonObject {
  const file = part.file;
  if (!isObject(file)) throw invalidRequest('file parts need a file object', at('.file'));
  if (isNonBlank(file.file_id)) return { type: 'input_file', file_id: file.file_id };
  if (typeof file.file_data === 'string') return { type: 'input_file', filename: typeof file.filename === 'string' ? file.filename : 'file', file_data: file.file_data };
  throw invalidRequest('file parts need a file_id or file_data', at('.file'));
}

function audioPart(part: JsonObject, at: Path): JsonObject {
  const audio = part.input_audio;
  if (!isObject(audio) || typeof audio.data !== 'string' || typeof audio.format !== 'string') throw invalidRequest('input_audio parts need data and format', at('.input_audio'));
  return { type: 'input_audio', input_audio: { data: audio.data, format: audio.format } };
}

function contentParts(content: unknown, role: string, param: string): JsonObject[] {
  const textType = role === 'assistant' ? 'output_text' : 'input_text';
  if (typeof content === 'string') return content === '' && role === 'assistant' ? [] : [{ type: textType, text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) throw invalidRequest('content must be a string or an array of parts', param);
  return content.map((part, j) => {
    const at: Path = (suffix) => `${param}[${j}]${suffix}`;
    if (!isObject(part) || typeof part.type !== 'string') throw invalidRequest('content part shape is not translatable', at(''));
    switch (part.type) {
      case 'text':
        if (typeof part.text !== 'string') throw invalidRequest('text parts need a text string', at('.text'));
        return { type: textType, text: part.text };
      case 'refusal':
        if (role !== 'assistant' || typeof part.refusal !== 'string') throw invalidRequest('refusal parts belong to assistant messages', at('.type'));
        return { type: 'refusal', refusal: part.refusal };
      case 'image_url':
        if (role !== 'user') throw invalidRequest('image parts belong to user messages', at('.type'));
        return imagePart(part, at);
      case 'file':
        if (role !== 'user') throw invalidRequest('file parts belong to user messages', at('.type'));
        return filePart(part, at);
      case 'input_audio':
        if (role !== 'user') throw invalidRequest('audio parts belong to user messages', at('.type'));
        return audioPart(part, at);
      default:
        throw invalidRequest(`content part type ${part.type} is not translatable`, at('.type'));
    }
  });
}

function toolCallItem(call: unknown, param: string, customCalls: Set<string>): JsonObject {
  if (!isObject(call)) throw invalidRequest('tool calls must be objects', param);
  const callId = isNonBlank(call.id) ? call.id : undefined;
  if (call.type === 'custom' || (call.type === undefined && isObject(call.custom))) {
    const custom = call.custom;
    if (!isObject(custom) || !isNonBlank(custom.name)) throw invalidRequest('custom tool calls need a name', `${param}.custom.name`);
    if (callId) customCalls.add(callId);
    return { type: 'custom_tool_call', call_id: callId, name: custom.name, input: typeof custom.input === 'string' ? custom.input : '' };
  }
  const fn = call.function;
  if (!isObject(fn) || !isNonBlank(fn.name)) throw invalidRequest('tool calls need a function name', `${param}.function.name`);
  const args = typeof fn.arguments === 'string' ? fn.arguments : fn.arguments === undefined ? '' : JSON.stringify(fn.arguments);
  return { type: 'function_call', call_id: callId, name: fn.name, arguments: args };
}

function toolResult(message: JsonObject, param: string, customCalls: Set<string>): JsonObject {
  const callId = isNonBlank(message.tool_call_id) ? message.tool_call_id : undefined;
  const content = message.content;
  let output: string;
  if (typeof content === 'string') output = content;
  else if (Array.isArray(content)) output = contentParts(content, 'tool', `${param}.content`).map((part) => (typeof part.text === 'string' ? part.text : '')).join('');
  else if (content === null || content === undefined) output = '';
  else throw invalidRequest('tool message content must be a string or text parts', `${param}.content`);
  return { type: callId && customCalls.has(callId) ? 'custom_tool_call_output' : 'function_call_output', call_id: callId, output };
}

/** Maps `messages` to Responses input items (ids missing on calls are recovered by the Responses step). */
export function chatMessagesToInput(messages: unknown[]): JsonObject[] {
  const items: JsonObject[] = [];
  const customCalls = new Set<string>();
  messages.forEach((message, i) => {
    const param = `messages[${i}]`;
    if (!isObject(message)) throw invalidRequest('messages must be objects', param);
    const role = message.role;
    if (role === 'function' || message.function_call !== undefined) throw invalidRequest('legacy functions are not translatable', role === 'function' ? `${param}.role` : `${param}.function_call`);
    if (typeof role !== 'string' || !ROLES.has(role)) throw invalidRequest('message role must be one of system, developer, user, assistant, tool', `${param}.role`);
    if (role === 'tool') {
      items.push(toolResult(message, param, customCalls));
      return;
    }
    const content = contentParts(message.content, role, `${param}.content`);
    if (content.length > 0 || role !== 'assistant') items.push({ type: 'message', role, content });
    if (role === 'assistant' && message.tool_calls !== undefined && message.tool_calls !== null) {
      if (!Array.isArray(message.tool_calls)) throw invalidRequest('tool_calls must be an array', `${param}.tool_calls`);
      message.tool_calls.forEach((call, j) => items.push(toolCallItem(call, `${param}.tool_calls[${j}]`, customCalls)));
    }
  });
  // Unset call ids are left out rather than sent as undefined keys.
  return items.map((item) => (item.call_id === undefined && 'call_id' in item ? withoutCallId(item) : item));
}

function withoutCallId(item: JsonObject): JsonObject {
  const { call_id: _unset, ...rest } = item;
  return rest;
}
