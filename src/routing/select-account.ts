import { createHash } from 'node:crypto';
import type { Candidate, IneligibleReason } from './candidate.ts';

export type SelectionRequest = {
  now: number;
  /** Session id or prompt_cache_key: keeps a session on one account while it stays eligible. */
  affinityKey?: string | null;
  /** Accounts already tried by this request. */
  exclude?: ReadonlySet<string>;
  /** Monotonic counter for round robin among equally good accounts. */
  rotation: number;
  /** How many candidates failover may try. */
  ringSize?: number;
};

export type Selection = {
  ordered: Candidate[];
  ineligible: { assignmentId: string; reason: IneligibleReason }[];
};

const QUOTA_FRESH_MS = 15 * 60_000;

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

function affinityScore(key: string, assignmentId: string): string {
  return createHash('sha256').update(key).update('\0').update(assignmentId).digest('hex');
}

/**
 * Orders the eligible accounts of a pool for one request. Pure: state in, decision out.
 * - With an affinity key, rendezvous hashing puts the same account first for the same key in every
 *   process, and moves only that key's sessions when its account becomes ineligible.
 * - Otherwise round robin among accounts with known headroom (nearly exhausted ones last), then
 *   accounts without quota evidence yet: missing evidence never strands a pool.
 */
export function selectAccount(candidates: readonly Candidate[], request: SelectionRequest): Selection {
  const ineligible: Selection['ineligible'] = [];
  const eligible: Candidate[] = [];
  for (const candidate of candidates) {
    const reason = request.exclude?.has(candidate.assignmentId) ? 'excluded' : ineligibleReason(candidate, request.now);
    if (reason) ineligible.push({ assignmentId: candidate.assignmentId, reason });
    else eligible.push(candidate);
  }
  let ordered: Candidate[];
  if (request.affinityKey) {
    const key = request.affinityKey;
    ordered = eligible
      .map((c) => ({ c, score: affinityScore(key, c.assignmentId) }))
      .sort((a, b) => (a.score < b.score ? 1 : a.score > b.score ? -1 : 0))
      .map((x) => x.c);
  } else {
    const byId = (a: Candidate, b: Candidate) => (a.assignmentId < b.assignmentId ? -1 : 1);
    const known = eligible.filter((c) => knownUsage(c, request.now) !== null).sort(byId);
    const unknown = eligible.filter((c) => knownUsage(c, request.now) === null).sort(byId);
    // Accounts at or above 90% go to the back of the known group so load spreads to headroom first.
    const roomy = known.filter((c) => (knownUsage(c, request.now) ?? 0) < 90);
    const tight = known.filter((c) => (knownUsage(c, request.now) ?? 0) >= 90).sort((a, b) => (knownUsage(a, request.now) ?? 0) - (knownUsage(b, request.now) ?? 0));
    ordered = [...rotate(roomy, request.rotation), ...tight, ...rotate(unknown, request.rotation)];
  }
  return { ordered: request.ringSize ? ordered.slice(0, request.ringSize) : ordered, ineligible };
}

function rotate<T>(items: T[], by: number): T[] {
  if (items.length < 2) return items;
  const offset = ((by % items.length) + items.length) % items.length;
  return [...items.slice(offset), ...items.slice(0, offset)];
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
  if (counts.get('reauth_required')) parts.push(`${counts.get('reauth_required')} need re-authentication (import a fresh auth.json)`);
  if (counts.get('disabled')) parts.push(`${counts.get('disabled')} disabled`);
  if (counts.get('credentials_unusable')) parts.push(`${counts.get('credentials_unusable')} with unusable credentials`);
  if (counts.get('excluded')) parts.push(`${counts.get('excluded')} failed for this request`);
  return `no healthy eligible upstream account in pool ${poolSlug}: ${parts.join(', ')}`;
}
