import type { Candidate } from '../routing/index.ts';
import { ineligibleReason } from '../routing/index.ts';
import { QUOTA_FRESH_MS } from '../upstreams/index.ts';

type Window = { used_percent: number; limit_window_seconds: number; reset_after_seconds: number; reset_at: number } | null;

export type UsageDocument = {
  plan_type: string;
  rate_limit: { allowed: boolean; limit_reached: boolean; primary_window: Window; secondary_window: Window };
};

function window(used: number | null, resetAt: number | null, seconds: number, now: number): Window {
  if (used === null) return null;
  const reset = resetAt ?? now;
  return { used_percent: used, limit_window_seconds: seconds, reset_after_seconds: Math.max(0, Math.round((reset - now) / 1000)), reset_at: Math.round(reset / 1000) };
}

/**
 * The Codex usage document (runtime spec §9.8) for a pool, from its quota evidence: the windows of
 * the eligible account with the most headroom, which is what the next request would most likely
 * use. Pure; `allowed` is false only when no account can serve.
 */
export function poolUsageDocument(candidates: readonly Candidate[], now: number): UsageDocument {
  const eligible = candidates.filter((c) => ineligibleReason(c, now) === null);
  const fresh = (c: Candidate) => c.quota.observedAt !== null && now - c.quota.observedAt <= QUOTA_FRESH_MS;
  const headroom = (c: Candidate) => 100 - Math.max(c.quota.primaryUsedPercent ?? 0, c.quota.secondaryUsedPercent ?? 0);
  const best = [...eligible].filter(fresh).sort((a, b) => headroom(b) - headroom(a))[0] ?? eligible[0] ?? candidates[0];
  const plan = best?.plan ?? 'unknown';
  if (!best) return { plan_type: plan, rate_limit: { allowed: false, limit_reached: false, primary_window: null, secondary_window: null } };
  const q = best.quota;
  return {
    plan_type: plan,
    rate_limit: {
      allowed: eligible.length > 0,
      limit_reached: eligible.length === 0 && candidates.some((c) => ineligibleReason(c, now) === 'quota_exhausted'),
      primary_window: fresh(best) ? window(q.primaryUsedPercent, q.primaryResetAt, 18_000, now) : null,
      secondary_window: fresh(best) ? window(q.secondaryUsedPercent, q.secondaryResetAt, 604_800, now) : null,
    },
  };
}
