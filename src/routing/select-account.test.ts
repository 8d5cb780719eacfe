import { describe, expect, test } from 'vitest';
import type { Candidate } from './candidate.ts';
import { describeNoEligibleAccount, selectAccount, type SelectionRequest } from './select-account.ts';
import { rankByStrategy, ringScore } from './strategies.ts';

const NOW = 1_800_000_000_000;

function account(id: string, overrides: Partial<Candidate> = {}, quota: Partial<Candidate['quota']> = {}): Candidate {
  return {
    assignmentId: id,
    identityId: `identity-${id}`,
    poolId: 'pool',
    label: id,
    email: null,
    plan: 'plus',
    chatgptAccountId: `acct-${id}`,
    assignmentStatus: 'active',
    identityStatus: 'active',
    eligibility: 'eligible',
    cooldownUntil: null,
    quota: { primaryUsedPercent: null, primaryResetAt: null, secondaryUsedPercent: null, secondaryResetAt: null, observedAt: null, ...quota },
    lastSuccessAt: null,
    models: null,
    ...overrides,
  };
}
const fresh = (primary: number, secondary = 0) => ({ primaryUsedPercent: primary, secondaryUsedPercent: secondary, observedAt: NOW - 1000, primaryResetAt: NOW + 3_600_000, secondaryResetAt: NOW + 86_400_000 });
const ids = (selection: ReturnType<typeof selectAccount>) => selection.ordered.map((c) => c.assignmentId);
const base = (extra: Partial<SelectionRequest> = {}): SelectionRequest => ({ now: NOW, strategy: 'bridge_ring', ringSize: 10, seed: 'request-1', sticky: false, ...extra });

describe('selectAccount', () => {
  test.each([
    ['skips a disabled account', [account('a', { assignmentStatus: 'disabled' }), account('b')], ['b']],
    ['skips an account needing re-authentication', [account('a', { identityStatus: 'reauth_required' }), account('b')], ['b']],
    ['skips an account cooling down', [account('a', { cooldownUntil: NOW + 1000 }), account('b')], ['b']],
    ['an expired cooldown no longer counts', [account('a', { cooldownUntil: NOW - 1 })], ['a']],
    ['skips an exhausted window', [account('a', {}, fresh(100)), account('b', {}, fresh(10))], ['b']],
    ['stale exhaustion evidence does not strand the account', [account('a', {}, { ...fresh(100), observedAt: NOW - 3_600_000 })], ['a']],
    ['accounts without evidence are eligible, after known headroom', [account('a'), account('b', {}, fresh(30))], ['b', 'a']],
  ])('%s', (_name, candidates, expected) => {
    expect(ids(selectAccount(candidates, base())).sort()).toEqual([...expected].sort());
    if (expected.length === 2 && _name.includes('after')) expect(ids(selectAccount(candidates, base()))).toEqual(expected);
  });

  test('request ids spread load over equally good accounts', () => {
    const candidates = [account('a', {}, fresh(10)), account('b', {}, fresh(10)), account('c', {}, fresh(10))];
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const first = ids(selectAccount(candidates, base({ seed: `req-${i}` })))[0]!;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    for (const id of ['a', 'b', 'c']) expect(counts.get(id)).toBeGreaterThan(60);
  });

  test('an affinity key keeps choosing the same account, and moves only when it becomes ineligible', () => {
    const candidates = [account('a'), account('b'), account('c'), account('d')];
    const first = ids(selectAccount(candidates, base({ seed: 'session-1', sticky: true })))[0]!;
    for (let rotation = 1; rotation < 20; rotation++) {
      expect(ids(selectAccount(candidates, base({ seed: 'session-1', sticky: true })))[0]).toBe(first);
      void rotation;
    }
    const withoutFirst = candidates.map((c) => (c.assignmentId === first ? { ...c, cooldownUntil: NOW + 1000 } : c));
    const moved = selectAccount(withoutFirst, base({ seed: 'session-1', sticky: true }));
    expect(ids(moved)[0]).not.toBe(first);
    expect(moved.moved).toEqual({ from: first, reason: 'cooling_down' });
  });

  test('different sessions spread over the accounts', () => {
    const candidates = [account('a'), account('b'), account('c'), account('d')];
    const chosen = new Set(Array.from({ length: 40 }, (_, i) => ids(selectAccount(candidates, base({ seed: `s${i}`, sticky: true })))[0]));
    expect(chosen.size).toBe(4);
  });

  test('excluded accounts and the ring size', () => {
    const candidates = [account('a'), account('b'), account('c')];
    const selection = selectAccount(candidates, base({ exclude: new Set(['a']), ringSize: 1 }));
    expect(ids(selection)).toHaveLength(1);
    expect(ids(selection)[0]).not.toBe('a');
    expect(selection.ineligible).toEqual([{ assignmentId: 'a', reason: 'excluded' }]);
  });

  test('the no-eligible message says what an operator can do', () => {
    const candidates = [account('a', { cooldownUntil: NOW + 60_000 }), account('b', { identityStatus: 'reauth_required' })];
    const message = describeNoEligibleAccount('team', selectAccount(candidates, base()), candidates, NOW);
    expect(message).toContain('1 cooling down until');
    expect(message).toContain('1 need re-authentication');
    expect(describeNoEligibleAccount('team', selectAccount([], base()), [], NOW)).toContain('accounts import --pool team');
  });

  test('the owner of the conversation goes first while eligible; otherwise the move is reported', () => {
    const candidates = [account('a'), account('b'), account('c')];
    for (const pinned of ['a', 'b', 'c']) expect(ids(selectAccount(candidates, base({ pinned })))[0]).toBe(pinned);
    const cooled = [account('a', { cooldownUntil: NOW + 1000 }), account('b')];
    const selection = selectAccount(cooled, base({ pinned: 'a' }));
    expect(ids(selection)).toEqual(['b']);
    expect(selection.moved).toEqual({ from: 'a', reason: 'cooling_down' });
  });

  test('a session leaves a nearly spent account only at a boundary, for the roomy account resetting soonest', () => {
    const nearly = (id: string) => account(id, {}, fresh(95));
    const roomy = (id: string, resetIn: number) => account(id, {}, { ...fresh(20), primaryResetAt: NOW + resetIn });
    // Find a session whose preferred account is the nearly spent one.
    const candidates = [nearly('a'), roomy('b', 7_200_000), roomy('c', 600_000)];
    const seed = Array.from({ length: 50 }, (_, i) => `s${i}`).find((s) => ids(selectAccount([account('a'), account('b'), account('c')], base({ seed: s, sticky: true })))[0] === 'a')!;
    const midTurn = selectAccount(candidates, base({ seed, sticky: true, boundary: false }));
    expect(ids(midTurn)[0]).toBe('a');
    const atBoundary = selectAccount(candidates, base({ seed, sticky: true, boundary: true }));
    expect(ids(atBoundary)[0]).toBe('c');
    expect(atBoundary.moved).toEqual({ from: 'a', reason: 'quota_nearly_spent' });
    // With nowhere roomier to go the session stays.
    expect(ids(selectAccount([nearly('a'), nearly('b')], base({ seed, sticky: true, boundary: true })))).toContain('a');
  });

  test('an account whose catalog lacks the model is skipped; unknown catalogs pass', () => {
    const candidates = [account('a', { models: new Set(['gpt-5.4']) }), account('b', { models: new Set(['gpt-5.4-mini']) }), account('c')];
    const selection = selectAccount(candidates, base({ model: 'GPT-5.4-mini' }));
    expect(ids(selection).sort()).toEqual(['b', 'c']);
    expect(selection.ineligible).toEqual([{ assignmentId: 'a', reason: 'model_unsupported' }]);
  });

  test('circuit-blocked accounts are out, demoted ones go last', () => {
    const candidates = [account('a'), account('b'), account('c')];
    const selection = selectAccount(candidates, base({ isCircuitBlocked: (c) => c.assignmentId === 'a', demoted: new Set(['b']) }));
    expect(ids(selection)).toEqual(['c', 'b']);
    expect(selection.ineligible).toEqual([{ assignmentId: 'a', reason: 'circuit_open' }]);
  });
});

describe('strategies (routing spec A5)', () => {
  const pool = [account('a'), account('b'), account('c'), account('d')];
  test('bridge_ring ranks by descending SHA-256(seed:id)', () => {
    const expected = ['a', 'b', 'c', 'd'].sort((x, y) => (ringScore('seed', x) < ringScore('seed', y) ? 1 : -1));
    expect(rankByStrategy(pool, 'bridge_ring', 'seed', NOW, 900_000).map((c) => c.assignmentId)).toEqual(expected);
    expect(ringScore('s', 'a')).toMatch(/^[0-9a-f]{64}$/);
  });
  test('an unknown strategy behaves like bridge_ring', () => {
    expect(rankByStrategy(pool, 'whatever', 'seed', NOW, 900_000)).toEqual(rankByStrategy(pool, 'bridge_ring', 'seed', NOW, 900_000));
  });
  test('deterministic_rotation rotates the id-sorted list by H(seed) mod n', () => {
    const order = rankByStrategy(pool, 'deterministic_rotation', 'seed', NOW, 900_000).map((c) => c.assignmentId);
    const start = order[0]!;
    const expected = ['a', 'b', 'c', 'd'];
    const offset = expected.indexOf(start);
    expect(order).toEqual([...expected.slice(offset), ...expected.slice(0, offset)]);
    expect(rankByStrategy(pool, 'deterministic_rotation', 'seed', NOW, 900_000)).toEqual(rankByStrategy(pool, 'deterministic_rotation', 'seed', NOW, 900_000));
  });
  test('least_recent_success puts never-succeeded accounts first, then the oldest success', () => {
    const list = [account('a', { lastSuccessAt: NOW - 10 }), account('b', { lastSuccessAt: NOW - 1000 }), account('c')];
    expect(rankByStrategy(list, 'least_recent_success', 'seed', NOW, 900_000).map((c) => c.assignmentId)).toEqual(['c', 'b', 'a']);
  });
  test('quota_first prefers the most remaining capacity', () => {
    const list = [account('a', {}, fresh(80)), account('b', {}, fresh(10, 50)), account('c', {}, fresh(30))];
    expect(rankByStrategy(list, 'quota_first', 'seed', NOW, 900_000).map((c) => c.assignmentId)).toEqual(['c', 'b', 'a']);
  });
});
