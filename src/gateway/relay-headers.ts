// Only these upstream response headers reach the client (runtime spec §5.4).
// x-models-etag is the gateway's own catalog tag (the client compares it with /models), never the upstream's.
const RELAYED = ['x-codex-turn-state', 'x-reasoning-included', 'x-codex-safety-buffering-enabled', 'x-codex-safety-buffering-faster-model'];
const SAFE_VALUE = /^[\x20-\x7e]{1,1024}$/;

export function relayedHeaders(upstream: Record<string, string | string[] | undefined>, fallbackContentType: string): Record<string, string> {
  const out: Record<string, string> = {};
  const contentType = upstream['content-type'];
  out['content-type'] = typeof contentType === 'string' && SAFE_VALUE.test(contentType) ? contentType : fallbackContentType;
  for (const name of RELAYED) {
    const value = upstream[name];
    if (typeof value === 'string' && SAFE_VALUE.test(value)) out[name] = value;
  }
  const model = upstream['openai-model'] ?? upstream['x-openai-model'];
  if (typeof model === 'string' && SAFE_VALUE.test(model)) out['openai-model'] = model;
  return out;
}
