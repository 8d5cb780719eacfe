import { parseEventData, type SseEvent } from './sse.ts';

/** Events that carry no verdict on the attempt yet (they precede output or sit beside it). */
const PRELUDE_TYPES = new Set(['response.created', 'response.in_progress', 'codex.rate_limits', 'codex.response.metadata']);

/** First-event failures after which another account may serve the request (runtime spec §7.1). */
const FAILOVER_CODES = new Set(['upstream_request_timeout', 'stream_incomplete', 'server_error', 'overloaded_error', 'server_is_overloaded', 'websocket_connection_limit_reached', 'model_not_found', 'model_unavailable']);
const NEVER_FAILOVER = new Set(['previous_response_not_found', 'invalid_previous_response_id']);

export type EventVerdict = { kind: 'prelude' } | { kind: 'output' } | { kind: 'failure'; code: string; failover: boolean };

export function isFailureType(type: string | null): boolean {
  return type === 'response.failed' || type === 'error';
}

/** Finds the error code of a failure event, in the spec's lookup order. */
export function failureCode(data: Record<string, unknown> | null): string {
  if (!data) return 'stream_error';
  const pick = (value: unknown): string | null => {
    if (value && typeof value === 'object' && typeof (value as Record<string, unknown>).code === 'string') return (value as Record<string, string>).code!;
    return null;
  };
  const response = (data.response ?? null) as Record<string, unknown> | null;
  const statusDetails = (response?.status_details ?? null) as Record<string, unknown> | null;
  return (
    pick(response?.error) ??
    pick(data.error) ??
    pick(statusDetails?.error) ??
    pick((data.status_details as Record<string, unknown> | undefined)?.error) ??
    (typeof data.code === 'string' ? data.code : null) ??
    'stream_error'
  );
}

export function classifyEvent(event: SseEvent): EventVerdict {
  if (event.type && PRELUDE_TYPES.has(event.type)) return { kind: 'prelude' };
  if (isFailureType(event.type)) {
    const code = failureCode(parseEventData(event));
    return { kind: 'failure', code, failover: FAILOVER_CODES.has(code) && !NEVER_FAILOVER.has(code) };
  }
  return { kind: 'output' };
}
