import type { Candidate, IneligibleReason } from './candidate.ts';
import { rankByStrategy, type RoutingStrategy } from './strategies.ts';
import { QUOTA_FRESH_MS } from '../upstreams/quota-evidence.ts';

export type SelectionRequest = {
  now: number;
  strategy: RoutingStrategy | string;
  /** How many candidates failover may try (pool `bridge_ring_size`, at least 1). */
  ringSize: number;
  /** The affinity key when the request belongs to a session, else the request's own id. */
  seed: string;
  /** True when `seed` is a session or prompt-cache key: a move off its account is reported. */
  sticky: boolean;
  exclude?: ReadonlySet<string>;
  /** The account that owns the conversation state this request continues (previous response, encrypted reasoning). */
  pinned?: string | null;
  /** The requested model (lowercase): accounts that advertised a catalog without it are skipped. */
  model?: string | null;
  /** The request starts a conversation or compacts one: a natural moment to move a session. */
  boundary?: boolean;
  isCircuitBlocked?: (candidate: Candidate) => boolean;
  /** Accounts demoted for this key and model after a recent failure: tried last. */
  demoted?: ReadonlySet<string>;
};

export type Selection = {
  ordered: Candidate[];
  ineligible: { assignmentId: string; reason: IneligibleReason }[];
  /** Why a sticky request did not land on its preferred account (null when it did, or not sticky). */
  moved: { from: string; reason: IneligibleReason | 'demoted' | 'no_quota_evidence' | 'quota_nearly_spent' } | null;
};

const modelUnsupported = (candidate: Candidate, model: string | null | undefined) => !!model && candidate.models !== null && !candidate.models.has(model.toLowerCase());

export function ineligibleReason(candidate: Candidate, now: number): IneligibleReason | null {
  if (candidate.assignmentStatus === 'disabled' || candidate.assignmentStatus === 'paused' || candidate.assignmentStatus === 'deleted') return 'disabled';
  if (candidate.identityStatus === 'reauth_required' || candidate.assignmentStatus === 'reauth_required') return 'reauth_required';
  if (candidate.identityStatus !== 'active' && candidate.identityStatus !== 'refreshing' && candidate.identityStatus !== 'refresh_failed') return 'credentials_unusable';
  if (candidate.eligibility !== 'eligible' && candidate.assignmentStatus !== 'active') return 'disabled';
  if (candidate.cooldownUntil !== null && candidate.cooldownUntil > now) return 'cooling_down';
  if (quotaExhausted(candidate, now)) return 'quota_exhausted';
  return null;
}

function quotaExhausted(candidate: Candidate, now: number): boolean {
  const q = candidate.quota;
  if (q.observedAt === null || now - q.observedAt > QUOTA_FRESH_MS) return false;
  const full = (used: number | null, resetAt: number | null) => used !== null && used >= 100 && (resetAt === null || resetAt > now);
  return full(q.primaryUsedPercent, q.primaryResetAt) || full(q.secondaryUsedPercent, q.secondaryResetAt);
}

/** Highest used percentage across windows, or null without fresh evidence. */
export function knownUsage(candidate: Candidate, now: number): number | null {
  const q = candidate.quota;
  if (q.observedAt === null || now - q.observedAt > QUOTA_FRESH_MS) return null;
  const values = [q.primaryUsedPercent, q.secondaryUsedPercent].filter((v): v is number => v !== null);
  return values.length ? Math.max(...values) : null;
}

/**
 * The route plan for one request (routing spec A5), pure: eligibility filters, the pool's strategy
 * seeded by the session (sticky) or the request id (spread), then accounts without quota evidence
 * after those with known headroom, demoted accounts last, truncated to the ring size.
 */
export function selectAccount(candidates: readonly Candidate[], request: SelectionRequest): Selection {
  const ineligible: Selection['ineligible'] = [];
  const eligible: Candidate[] = [];
  for (const candidate of candidates) {
    const reason: IneligibleReason | null = request.exclude?.has(candidate.assignmentId)
      ? 'excluded'
      : (ineligibleReason(candidate, request.now) ?? (modelUnsupported(candidate, request.model) ? 'model_unsupported' : request.isCircuitBlocked?.(candidate) ? 'circuit_open' : null));
    if (reason) ineligible.push({ assignmentId: candidate.assignmentId, reason });
    else eligible.push(candidate);
  }
  const ranked = rankByStrategy(eligible, request.strategy, request.seed, request.now, QUOTA_FRESH_MS);
  const demoted = request.demoted ?? new Set<string>();
  const known = ranked.filter((c) => !demoted.has(c.assignmentId) && knownUsage(c, request.now) !== null);
  const unknown = ranked.filter((c) => !demoted.has(c.assignmentId) && knownUsage(c, request.now) === null);
  const last = ranked.filter((c) => demoted.has(c.assignmentId));
  let ordered = [...known, ...unknown, ...last];
  const switched = request.sticky && request.boundary && !request.pinned ? switchAtBoundary(ordered, request.now) : null;
  if (switched) ordered = switched.ordered;
  // Conversation state lives on one account: its owner goes first while it is eligible.
  const owner = request.pinned ? ordered.find((c) => c.assignmentId === request.pinned) : undefined;
  if (owner) ordered = [owner, ...ordered.filter((c) => c !== owner)];
  ordered = ordered.slice(0, Math.max(1, request.ringSize));

  let moved: Selection['moved'] = null;
  if (switched) {
    moved = { from: switched.from, reason: 'quota_nearly_spent' };
  } else if (request.pinned && !owner) {
    const reason = ineligible.find((i) => i.assignmentId === request.pinned)?.reason;
    if (reason) moved = { from: request.pinned, reason };
  } else if (request.sticky && candidates.length > 1 && !owner) {
    const preferred = rankByStrategy(candidates, request.strategy, request.seed, request.now, QUOTA_FRESH_MS)[0];
    if (preferred && ordered[0]?.assignmentId !== preferred.assignmentId) {
      const reason = ineligible.find((i) => i.assignmentId === preferred.assignmentId)?.reason ?? (demoted.has(preferred.assignmentId) ? 'demoted' : 'no_quota_evidence');
      moved = { from: preferred.assignmentId, reason };
    }
  }
  return { ordered, ineligible, moved };
}

export const NEARLY_SPENT_PERCENT = 90;

/**
 * Switch-cost aware choice: moving a session costs its prompt cache, so a session leaves a nearly
 * spent account only at a natural boundary (a new conversation or a compaction), never mid-turn,
 * and then goes to the account with headroom whose window resets soonest.
 */
function switchAtBoundary(ordered: Candidate[], now: number): { ordered: Candidate[]; from: string } | null {
  const current = ordered[0];
  const usage = current ? knownUsage(current, now) : null;
  if (!current || usage === null || usage < NEARLY_SPENT_PERCENT) return null;
  const roomy = ordered.filter((c) => c !== current && (knownUsage(c, now) ?? 0) < NEARLY_SPENT_PERCENT);
  if (roomy.length === 0) return null;
  const resetOf = (c: Candidate) => c.quota.primaryResetAt ?? Number.MAX_SAFE_INTEGER;
  const next = [...roomy].sort((a, b) => resetOf(a) - resetOf(b))[0]!;
  return { ordered: [next, ...ordered.filter((c) => c !== next)], from: current.assignmentId };
}

/** The message an operator can act on when nothing is eligible. */
export function describeNoEligibleAccount(poolSlug: string, selection: Selection, candidates: readonly Candidate[], now: number): string {
  if (candidates.length === 0) return `pool ${poolSlug} has no upstream accounts; import one with \`codex-pooler accounts import --pool ${poolSlug} auth.json\``;
  const counts = new Map<IneligibleReason, number>();
  for (const entry of selection.ineligible) counts.set(entry.reason, (counts.get(entry.reason) ?? 0) + 1);
  const parts: string[] = [];
  const cooling = candidates.filter((c) => c.cooldownUntil !== null && c.cooldownUntil > now).map((c) => c.cooldownUntil!);
  if (counts.get('cooling_down')) parts.push(`${counts.get('cooling_down')} cooling down until ${new Date(Math.min(...cooling)).toISOString()}`);
  if (counts.get('quota_exhausted')) parts.push(`${counts.get('quota_exhausted')} out of quota`);
  if (counts.get('circuit_open')) parts.push(`${counts.get('circuit_open')} failing repeatedly (circuit open, probed again within a minute)`);
  if (counts.get('model_unsupported')) parts.push(`${counts.get('model_unsupported')} do not serve this model`);
  if (counts.get('reauth_required')) parts.push(`${counts.get('reauth_required')} need re-authentication (import a fresh auth.json)`);
  if (counts.get('disabled')) parts.push(`${counts.get('disabled')} disabled`);
  if (counts.get('credentials_unusable')) parts.push(`${counts.get('credentials_unusable')} with unusable credentials`);
  if (counts.get('excluded')) parts.push(`${counts.get('excluded')} failed for this request`);
  return `no healthy eligible upstream account in pool ${poolSlug}: ${parts.join(', ')}`;
}
