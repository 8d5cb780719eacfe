import { PoolerError } from '../errors.ts';

export type JsonObject = Record<string, unknown>;

// The upstream /responses endpoint refuses these; clients (SDKs, agents) send them routinely.
const DROPPED_ON_RESPONSES = ['max_output_tokens', 'prompt_cache_retention', 'safety_identifier', 'temperature', 'top_p', 'type', 'generate'];
const COMPACT_KEYS = new Set(['model', 'instructions', 'input', 'tools', 'parallel_tool_calls', 'reasoning', 'service_tier', 'prompt_cache_key', 'prompt_cache_options', 'text']);

/** Checks the parts of a client body the gateway relies on; model presence is checked first. */
export function requireModel(body: JsonObject): string {
  const model = body.model;
  if (typeof model !== 'string' || model.trim() === '') throw new PoolerError('invalid_request', 'model is required', { param: 'model' });
  return model.trim();
}

function foldServiceTier(out: JsonObject): void {
  if (out.service_tier === 'fast') out.service_tier = 'priority';
  if (out.service_tier === 'auto' || out.service_tier === 'default') delete out.service_tier;
}

/** Upstream body for a native `/responses` attempt (runtime spec §5.3, the parts the gateway needs). */
export function upstreamResponsesBody(body: JsonObject, upstreamModel: string): JsonObject {
  if (body.input !== undefined && !Array.isArray(body.input) && typeof body.input !== 'string') throw new PoolerError('invalid_request', 'input must be an array', { param: 'input' });
  if (body.tools !== undefined && !Array.isArray(body.tools)) throw new PoolerError('invalid_request', 'tools must be an array', { param: 'tools' });
  const out: JsonObject = { ...body, model: upstreamModel };
  for (const key of DROPPED_ON_RESPONSES) delete out[key];
  if (typeof out.instructions !== 'string') out.instructions = '';
  foldServiceTier(out);
  if (out.reasoning !== undefined && (out.reasoning === null || (typeof out.reasoning === 'object' && Object.keys(out.reasoning as object).length === 0))) delete out.reasoning;
  return out;
}

/** Upstream body for `/responses/compact`: only the fields compaction accepts. */
export function upstreamCompactBody(body: JsonObject, upstreamModel: string): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(body)) if (COMPACT_KEYS.has(key)) out[key] = value;
  out.model = upstreamModel;
  if (!Array.isArray(out.input) || out.input.length === 0) throw new PoolerError('invalid_request', 'input must be a non-empty array', { param: 'input' });
  if (typeof out.instructions !== 'string') out.instructions = '';
  foldServiceTier(out);
  return out;
}

/** Session identity for affinity: a prompt cache key, else the Codex session header. */
/**
 * The conversation state a request continues: `previous_response_id` (header or body), else the
 * newest encrypted reasoning item replayed in `input`, else the newest uploaded file an input part
 * names (`file_id`: files live on the account they were uploaded to). Its owning account should
 * serve it.
 */
export function continuationOf(body: JsonObject, headers: Record<string, string | string[] | undefined>): string | null {
  const header = headers['x-codex-previous-response-id'];
  if (typeof header === 'string' && header.trim()) return header.trim();
  if (typeof body.previous_response_id === 'string' && body.previous_response_id.trim()) return body.previous_response_id.trim();
  if (!Array.isArray(body.input)) return null;
  for (let i = body.input.length - 1; i >= 0; i--) {
    const item = body.input[i] as { type?: unknown; id?: unknown; encrypted_content?: unknown } | null;
    if (item?.type === 'reasoning' && typeof item.id === 'string' && typeof item.encrypted_content === 'string' && item.encrypted_content) return item.id;
  }
  return newestFileIdOf(body.input);
}

function newestFileIdOf(input: unknown[]): string | null {
  for (let i = input.length - 1; i >= 0; i--) {
    const content = (input[i] as { content?: unknown } | null)?.content;
    if (!Array.isArray(content)) continue;
    for (let j = content.length - 1; j >= 0; j--) {
      const part = content[j] as { type?: unknown; file_id?: unknown } | null;
      if ((part?.type === 'input_file' || part?.type === 'input_image') && typeof part.file_id === 'string' && part.file_id) return part.file_id;
    }
  }
  return null;
}

const TURN_STATE_ITEMS = new Set(['function_call', 'function_call_output', 'custom_tool_call', 'custom_tool_call_output', 'reasoning', 'compaction', 'item_reference', 'local_shell_call', 'local_shell_call_output']);

/** A new conversation: nothing in it yet that an earlier turn produced (no replies, calls or reasoning). */
export function startsConversation(body: JsonObject): boolean {
  if (typeof body.previous_response_id === 'string' && body.previous_response_id) return false;
  if (!Array.isArray(body.input)) return true;
  return !body.input.some((item) => {
    const i = item as { type?: unknown; role?: unknown } | null;
    return i !== null && typeof i === 'object' && ((typeof i.type === 'string' && TURN_STATE_ITEMS.has(i.type)) || i.role === 'assistant');
  });
}

// Session headers in the routing spec's order (A2).
const SESSION_HEADERS = ['x-codex-window-id', 'x-codex-session-id', 'session-id', 'x-session-id', 'x-session-affinity', 'session_id', 'x-codex-conversation-id'];

/** Session identity for affinity: a Codex session header, else the prompt cache key (≤ 256 bytes). */
export function affinityKeyOf(body: JsonObject, headers: Record<string, string | string[] | undefined>): string | null {
  for (const name of SESSION_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value.trim()) return `sid:${value.trim()}`;
  }
  const cacheKey = typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key.trim() : '';
  if (cacheKey && Buffer.byteLength(cacheKey) <= 256) return `pck:${cacheKey}`;
  return null;
}
