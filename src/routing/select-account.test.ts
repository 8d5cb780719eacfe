import { describe, expect, test } from 'vitest';
import type { Candidate } from './candidate.ts';
import { describeNoEligibleAccount, selectAccount } from './select-account.ts';

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
    ...overrides,
  };
}
const fresh = (primary: number, secondary = 0) => ({ primaryUsedPercent: primary, secondaryUsedPercent: secondary, observedAt: NOW - 1000, primaryResetAt: NOW + 3_600_000, secondaryResetAt: NOW + 86_400_000 });
const ids = (selection: ReturnType<typeof selectAccount>) => selection.ordered.map((c) => c.assignmentId);

describe('selectAccount', () => {
  test.each([
    ['skips a disabled account', [account('a', { assignmentStatus: 'disabled' }), account('b')], ['b']],
    ['skips an account needing re-authentication', [account('a', { identityStatus: 'reauth_required' }), account('b')], ['b']],
    ['skips an account cooling down', [account('a', { cooldownUntil: NOW + 1000 }), account('b')], ['b']],
    ['an expired cooldown no longer counts', [account('a', { cooldownUntil: NOW - 1 })], ['a']],
    ['skips an exhausted window', [account('a', {}, fresh(100)), account('b', {}, fresh(10))], ['b']],
    ['stale exhaustion evidence does not strand the account', [account('a', {}, { ...fresh(100), observedAt: NOW - 3_600_000 })], ['a']],
    ['accounts without evidence are eligible, after known headroom', [account('a'), account('b', {}, fresh(30))], ['b', 'a']],
    ['nearly exhausted accounts go after roomy ones', [account('a', {}, fresh(95)), account('b', {}, fresh(20))], ['b', 'a']],
  ])('%s', (_name, candidates, expected) => {
    expect(ids(selectAccount(candidates, { now: NOW, rotation: 0 }))).toEqual(expected);
  });

  test('round robin rotates among equally good accounts', () => {
    const candidates = [account('a', {}, fresh(10)), account('b', {}, fresh(10)), account('c', {}, fresh(10))];
    const firsts = [0, 1, 2, 3].map((rotation) => ids(selectAccount(candidates, { now: NOW, rotation }))[0]);
    expect(firsts).toEqual(['a', 'b', 'c', 'a']);
  });

  test('an affinity key keeps choosing the same account, and moves only when it becomes ineligible', () => {
    const candidates = [account('a'), account('b'), account('c'), account('d')];
    const first = ids(selectAccount(candidates, { now: NOW, rotation: 0, affinityKey: 'pck:session-1' }))[0]!;
    for (let rotation = 1; rotation < 20; rotation++) {
      expect(ids(selectAccount(candidates, { now: NOW, rotation, affinityKey: 'pck:session-1' }))[0]).toBe(first);
    }
    const withoutFirst = candidates.map((c) => (c.assignmentId === first ? { ...c, cooldownUntil: NOW + 1000 } : c));
    expect(ids(selectAccount(withoutFirst, { now: NOW, rotation: 0, affinityKey: 'pck:session-1' }))[0]).not.toBe(first);
  });

  test('different sessions spread over the accounts', () => {
    const candidates = [account('a'), account('b'), account('c'), account('d')];
    const chosen = new Set(Array.from({ length: 40 }, (_, i) => ids(selectAccount(candidates, { now: NOW, rotation: 0, affinityKey: `pck:s${i}` }))[0]));
    expect(chosen.size).toBe(4);
  });

  test('excluded accounts and the ring size', () => {
    const candidates = [account('a'), account('b'), account('c')];
    const selection = selectAccount(candidates, { now: NOW, rotation: 0, exclude: new Set(['a']), ringSize: 1 });
    expect(ids(selection)).toEqual(['b']);
    expect(selection.ineligible).toEqual([{ assignmentId: 'a', reason: 'excluded' }]);
  });

  test('the no-eligible message says what an operator can do', () => {
    const candidates = [account('a', { cooldownUntil: NOW + 60_000 }), account('b', { identityStatus: 'reauth_required' })];
    const message = describeNoEligibleAccount('team', selectAccount(candidates, { now: NOW, rotation: 0 }), candidates, NOW);
    expect(message).toContain('1 cooling down until');
    expect(message).toContain('1 need re-authentication');
    expect(describeNoEligibleAccount('team', selectAccount([], { now: NOW, rotation: 0 }), [], NOW)).toContain('accounts import --pool team');
  });
});
