import type { Candidate } from './candidate.ts';
import { ineligibleReason, knownUsage, selectAccount, type SelectionRequest } from './select-account.ts';
import { ringScore } from './strategies.ts';

export type CandidateExplanation = {
  assignment_id: string;
  label: string;
  email: string | null;
  plan: string | null;
  /** 1-based position in the route plan, null when out of it. */
  rank: number | null;
  eligible: boolean;
  reason: string;
  quota: { primary_used_percent: number | null; secondary_used_percent: number | null; observed_at: string | null; known_usage: number | null };
  /** The first 16 hex digits of R(seed, id): a higher score ranks first under bridge_ring. */
  score: string;
  demoted: boolean;
  circuit_open: boolean;
  cooldown_until: string | null;
};

export type RouteExplanation = {
  strategy: string;
  ring_size: number;
  affinity: { kind: 'codex_session' | 'prompt_cache' | 'none'; seed: string };
  selected: string | null;
  moved: { from: string; reason: string } | null;
  candidates: CandidateExplanation[];
};

/**
 * Why a request would land where it lands (routing issue, "explain"): every candidate in plan order
 * then the excluded ones, each with its reason, quota, score and the affinity in force. Pure.
 */
export function explainRoute(candidates: readonly Candidate[], request: SelectionRequest & { affinityKind: 'codex_session' | 'prompt_cache' | 'none' }): RouteExplanation {
  const selection = selectAccount(candidates, request);
  const rank = new Map(selection.ordered.map((c, i) => [c.assignmentId, i + 1]));
  const reasons = new Map(selection.ineligible.map((i) => [i.assignmentId, i.reason]));
  const explained = candidates.map((c): CandidateExplanation => {
    const blocked = request.isCircuitBlocked?.(c) ?? false;
    const demoted = request.demoted?.has(c.assignmentId) ?? false;
    const position = rank.get(c.assignmentId) ?? null;
    const reason =
      reasons.get(c.assignmentId) ??
      (position === null ? 'beyond_ring_size' : demoted ? 'eligible_demoted' : knownUsage(c, request.now) === null ? 'eligible_no_quota_evidence' : 'eligible');
    return {
      assignment_id: c.assignmentId,
      label: c.label,
      email: c.email,
      plan: c.plan,
      rank: position,
      eligible: ineligibleReason(c, request.now) === null && !blocked,
      reason,
      quota: {
        primary_used_percent: c.quota.primaryUsedPercent,
        secondary_used_percent: c.quota.secondaryUsedPercent,
        observed_at: c.quota.observedAt === null ? null : new Date(c.quota.observedAt).toISOString(),
        known_usage: knownUsage(c, request.now),
      },
      score: ringScore(request.seed, c.assignmentId).slice(0, 16),
      demoted,
      circuit_open: blocked,
      cooldown_until: c.cooldownUntil !== null && c.cooldownUntil > request.now ? new Date(c.cooldownUntil).toISOString() : null,
    };
  });
  explained.sort((a, b) => (a.rank ?? Number.MAX_SAFE_INTEGER) - (b.rank ?? Number.MAX_SAFE_INTEGER) || (a.score < b.score ? 1 : -1));
  return {
    strategy: request.strategy,
    ring_size: request.ringSize,
    affinity: { kind: request.affinityKind, seed: request.sticky ? 'session' : 'request id' },
    selected: selection.ordered[0]?.assignmentId ?? null,
    moved: selection.moved,
    candidates: explained,
  };
}
