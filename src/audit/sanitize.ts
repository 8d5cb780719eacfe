// Keys whose values are never stored or shown (control-plane spec §0, sanitizer).
const SENSITIVE_FRAGMENTS = [
  'api_key', 'apikey', 'authorization', 'bearer', 'token', 'access_token', 'refresh_token', 'upstream_token', 'upstream_secret',
  'cookie', 'set-cookie', 'secret', 'password', 'prompt', 'messages', 'input', 'output', 'completion', 'content', 'raw_request',
  'raw_response', 'body', 'payload', 'file', 'filename', 'audio', 'image', 'transcript', 'transcription', 'upload_url',
  'download_url', 'sas_url', 'signed_url', 'auth_json', 'chatgpt_account_id',
];
const SENSITIVE_EXACT = new Set(['analytics', 'arc', 'idempotency_key', 'previous_response_id', 'sdp', 'trace', 'websocket_frame']);
// Pool routing flags (`pool.routing_update`) name prompts and images but hold only booleans.
const EXEMPT = new Set(['api_key_id', 'payload_compression', 'reservation_snapshot_inputs', 'token_refresh_reason_code_preview', 'prompt_cache_affinity_enabled', 'allow_image_generation']);

export const REDACTED = '[REDACTED]';

export function isSensitiveKey(key: string): boolean {
  const lower = key.toLowerCase();
  if (EXEMPT.has(lower)) return false;
  return SENSITIVE_EXACT.has(lower) || SENSITIVE_FRAGMENTS.some((fragment) => lower.includes(fragment));
}

/** Recursively replaces sensitive values; applied on write and on display. */
export function sanitizeDetails<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => sanitizeDetails(item)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      out[key] = isSensitiveKey(key) ? REDACTED : sanitizeDetails(inner);
    }
    return out as T;
  }
  return value;
}
