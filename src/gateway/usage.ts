/** Token usage reported by the upstream for one response. */
export type TokenUsage = {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
};

const count = (value: unknown): number | null => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null);

/** Reads a Responses `usage` object (or Chat-style names); null when incomplete or inconsistent. */
export function usageFrom(usage: unknown): TokenUsage | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  const input = count(u.input_tokens) ?? count(u.prompt_tokens);
  const output = count(u.output_tokens) ?? count(u.completion_tokens);
  if (input === null || output === null) return null;
  const total = count(u.total_tokens) ?? input + output;
  if (total !== input + output) return null;
  const inputDetails = (u.input_tokens_details ?? u.prompt_tokens_details) as Record<string, unknown> | undefined;
  const outputDetails = (u.output_tokens_details ?? u.completion_tokens_details) as Record<string, unknown> | undefined;
  return {
    inputTokens: input,
    cachedInputTokens: count(u.cached_input_tokens) ?? count(inputDetails?.cached_tokens) ?? 0,
    outputTokens: output,
    reasoningTokens: count(outputDetails?.reasoning_tokens) ?? 0,
    totalTokens: total,
  };
}

/** Usage from a terminal event or a JSON response body (`usage` or `response.usage`). */
export function usageFromPayload(payload: Record<string, unknown> | null): TokenUsage | null {
  if (!payload) return null;
  const response = payload.response as Record<string, unknown> | undefined;
  return usageFrom(response?.usage) ?? usageFrom(payload.usage);
}
