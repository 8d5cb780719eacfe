import { createHash } from 'node:crypto';
import type { Candidate } from './candidate.ts';

export type RoutingStrategy = 'bridge_ring' | 'deterministic_rotation' | 'least_recent_success' | 'quota_first';

/** R(s, id): SHA-256 of `s:id`, compared as an unsigned big-endian integer (= hex order). */
export function ringScore(seed: string, id: string): string {
  return createHash('sha256').update(`${seed}:${id}`, 'utf8').digest('hex');
}

/** H(seed): the first 8 bytes of SHA-256(seed), big-endian. */
export function seedHash(seed: string): bigint {
  return createHash('sha256').update(seed, 'utf8').digest().readBigUInt64BE(0);
}

/** A comparator by descending R(seed, id); scores are hashed once per candidate, not per comparison. */
const byRingDescending = (seed: string, candidates: readonly Candidate[]) => {
  const scores = new Map(candidates.map((c) => [c.assignmentId, ringScore(seed, c.assignmentId)]));
  return (a: Candidate, b: Candidate) => {
    const ra = scores.get(a.assignmentId)!;
    const rb = scores.get(b.assignmentId)!;
    return ra < rb ? 1 : ra > rb ? -1 : a.assignmentId < b.assignmentId ? -1 : 1;
  };
};

/**
 * Remaining capacity for `quota_first`: the smallest `100 - used` over fresh windows; an exhausted
 * window counts 0, and no evidence at all counts 0 (routing spec A5).
 */
export function capacity(candidate: Candidate, now: number, freshMs: number): number {
  const q = candidate.quota;
  if (q.observedAt === null || now - q.observedAt > freshMs) return 0;
  const values = [q.primaryUsedPercent, q.secondaryUsedPercent].filter((v): v is number => v !== null).map((used) => Math.max(0, 100 - used));
  return values.length ? Math.min(...values) : 0;
}

/** Orders candidates by the pool's strategy. Pure; `seed` is the affinity key or the request id. */
export function rankByStrategy(candidates: readonly Candidate[], strategy: RoutingStrategy | string, seed: string, now: number, freshMs: number): Candidate[] {
  const list = [...candidates];
  switch (strategy) {
    case 'deterministic_rotation': {
      list.sort((a, b) => (a.assignmentId < b.assignmentId ? -1 : 1));
      if (list.length <= 1) return list;
      const offset = Number(seedHash(seed) % BigInt(list.length));
      return [...list.slice(offset), ...list.slice(0, offset)];
    }
    case 'least_recent_success': {
      const ring = byRingDescending(seed, list);
      return list.sort((a, b) => (a.lastSuccessAt ?? 0) - (b.lastSuccessAt ?? 0) || ring(a, b));
    }
    case 'quota_first': {
      const ring = byRingDescending(seed, list);
      return list.sort((a, b) => capacity(b, now, freshMs) - capacity(a, now, freshMs) || ring(a, b));
    }
    default:
      // bridge_ring, also for any unknown value.
      return list.sort(byRingDescending(seed, list));
  }
}
