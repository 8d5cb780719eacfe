import { PoolerError } from '../errors.ts';

/** One policy binding's limits; null = uncapped (control-plane spec §6.2). */
export type KeyLimits = {
  maxRequestsPerMinute: number | null;
  maxTokensPerDay: number | null;
  maxTokensPerWeek: number | null;
  maxInputTokensPerRequest: number | null;
  maxOutputTokensPerRequest: number | null;
};

export type KeyPolicy = { default: KeyLimits | null; models: ReadonlyMap<string, KeyLimits> };

export type KeyUsage = { requestsLastMinute: number; tokensToday: number; tokensLast7Days: number };

export type PolicyRequest = { inputTokens: number; outputTokens: number };

export type PolicyViolation = { field: string; metric: 'requests' | 'tokens'; window: string; attempted: number; max: number; resetsAt: Date };

/** The binding that applies: the model's own (case-insensitive), else the key's default. */
export function effectiveLimits(policy: KeyPolicy, model: string): KeyLimits | null {
  return policy.models.get(model.toLowerCase()) ?? policy.default;
}

const startOfUtcDay = (now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));

/** Checks one request against its limits, pure. Windows: rolling 60 s, UTC day, rolling 7 days. */
export function checkLimits(limits: KeyLimits, usage: KeyUsage, request: PolicyRequest, now: Date): PolicyViolation | null {
  const tokens = request.inputTokens + request.outputTokens;
  if (limits.maxInputTokensPerRequest !== null && request.inputTokens > limits.maxInputTokensPerRequest) {
    return { field: 'max_input_tokens_per_request', metric: 'tokens', window: 'request', attempted: request.inputTokens, max: limits.maxInputTokensPerRequest, resetsAt: now };
  }
  if (limits.maxOutputTokensPerRequest !== null && request.outputTokens > limits.maxOutputTokensPerRequest) {
    return { field: 'max_output_tokens_per_request', metric: 'tokens', window: 'request', attempted: request.outputTokens, max: limits.maxOutputTokensPerRequest, resetsAt: now };
  }
  if (limits.maxRequestsPerMinute !== null && usage.requestsLastMinute + 1 > limits.maxRequestsPerMinute) {
    return { field: 'max_requests_per_minute', metric: 'requests', window: 'minute', attempted: usage.requestsLastMinute + 1, max: limits.maxRequestsPerMinute, resetsAt: new Date(now.getTime() + 60_000) };
  }
  if (limits.maxTokensPerDay !== null && usage.tokensToday + tokens > limits.maxTokensPerDay) {
    return { field: 'max_tokens_per_day', metric: 'tokens', window: 'day', attempted: usage.tokensToday + tokens, max: limits.maxTokensPerDay, resetsAt: new Date(startOfUtcDay(now).getTime() + 86_400_000) };
  }
  if (limits.maxTokensPerWeek !== null && usage.tokensLast7Days + tokens > limits.maxTokensPerWeek) {
    return { field: 'max_tokens_per_week', metric: 'tokens', window: 'week', attempted: usage.tokensLast7Days + tokens, max: limits.maxTokensPerWeek, resetsAt: new Date(now.getTime() + 7 * 86_400_000) };
  }
  return null;
}

/** The spec's error, with the window's reset time in the body and a Retry-After header. */
export function policyError(violation: PolicyViolation, now: Date): PoolerError {
  const retryAfter = Math.max(1, Math.ceil((violation.resetsAt.getTime() - now.getTime()) / 1000));
  return new PoolerError(
    'api_key_policy_limit_exceeded',
    `api key policy ${violation.field} exceeded for ${violation.metric} in ${violation.window} window: attempted ${violation.attempted}, max ${violation.max}`,
    { param: violation.field, headers: { 'retry-after': String(retryAfter) }, details: { resets_at: violation.resetsAt.toISOString() } },
  );
}
