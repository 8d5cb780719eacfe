import { describe, expect, test } from 'vitest';
import type { Candidate } from './candidate.ts';
import { explainRoute } from './explain-route.ts';

const NOW = 1_800_000_000_000;
const account = (id: string, overrides: Partial<Candidate> = {}): Candidate => ({
  assignmentId: id,
  identityId: `i-${id}`,
  poolId: 'pool',
  label: id,
  email: null,
  plan: 'plus',
  chatgptAccountId: null,
  assignmentStatus: 'active',
  identityStatus: 'active',
  eligibility: 'eligible',
  cooldownUntil: null,
  quota: { primaryUsedPercent: 20, primaryResetAt: NOW + 3_600_000, secondaryUsedPercent: 5, secondaryResetAt: NOW + 86_400_000, observedAt: NOW - 1000 },
  lastSuccessAt: null,
  models: null,
  ...overrides,
});

describe('explainRoute', () => {
  test('lists the plan in order, then every excluded account with its reason', () => {
    const explanation = explainRoute([account('a', { cooldownUntil: NOW + 60_000 }), account('b'), account('c'), account('d', { identityStatus: 'reauth_required' })], {
      now: NOW,
      strategy: 'bridge_ring',
      ringSize: 3,
      seed: 'session-seed',
      sticky: true,
      affinityKind: 'codex_session',
      isCircuitBlocked: (c) => c.assignmentId === 'c',
    });
    expect(explanation.selected).toBe('b');
    expect(explanation.candidates.map((c) => [c.assignment_id, c.rank, c.reason])).toEqual([
      ['b', 1, 'eligible'],
      ...explanation.candidates.slice(1).map((c) => [c.assignment_id, null, c.reason]),
    ]);
    const reasons = Object.fromEntries(explanation.candidates.map((c) => [c.assignment_id, c.reason]));
    expect(reasons).toMatchObject({ a: 'cooling_down', c: 'circuit_open', d: 'reauth_required' });
    expect(explanation.candidates.find((c) => c.assignment_id === 'a')?.cooldown_until).toBe(new Date(NOW + 60_000).toISOString());
    expect(explanation.candidates.every((c) => /^[0-9a-f]{16}$/.test(c.score))).toBe(true);
  });
});
