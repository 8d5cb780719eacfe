import { describe, expect, test } from 'vitest';
import { PoolerError } from '../errors.ts';
import { authorize, can, readablePoolIds, systemScope, type Capability, type OperatorScope, type PoolRef } from './scope.ts';

const context = { ipAddress: null, correlationId: null };
const owner: OperatorScope = { kind: 'operator', userId: 'o', email: 'o@x', displayName: null, role: 'instance_owner', assignedPools: new Map(), sessionId: 's1', context };
const admin: OperatorScope = { ...owner, userId: 'a', role: 'instance_admin', assignedPools: new Map([['A', 'active'], ['D', 'disabled']]) };
const A: PoolRef = { id: 'A', status: 'active' };
const B: PoolRef = { id: 'B', status: 'active' };
const D: PoolRef = { id: 'D', status: 'disabled' };
const X: PoolRef = { id: 'X', status: 'archived' };

describe('the permission matrix (spec §4.4)', () => {
  test.each<[string, OperatorScope, Capability, PoolRef | undefined, boolean]>([
    ['owner manages pools', owner, 'pool.manage', undefined, true],
    ['admin cannot manage pools', admin, 'pool.manage', undefined, false],
    ['owner manages operators', owner, 'operator.manage', undefined, true],
    ['admin cannot manage operators', admin, 'operator.manage', undefined, false],
    ['admin cannot change settings', admin, 'instance_settings.manage', undefined, false],
    ['admin cannot see global audit', admin, 'audit.view_global', undefined, false],
    ['owner operates any active pool', owner, 'pool.operate', B, true],
    ['owner cannot operate a disabled pool', owner, 'pool.operate', D, false],
    ['owner views an archived pool', owner, 'pool.view', X, true],
    ['admin operates an assigned active pool', admin, 'pool.operate', A, true],
    ['admin manages keys of an assigned active pool', admin, 'pool_api_key.manage', A, true],
    ['admin cannot operate an unassigned pool', admin, 'pool.operate', B, false],
    ['admin views an assigned disabled pool', admin, 'pool.view', D, true],
    ['admin cannot operate an assigned disabled pool', admin, 'pool_api_key.manage', D, false],
    ['admin cannot view an unassigned pool', admin, 'pool.view', B, false],
    ['pool-bound capabilities need a pool', owner, 'pool.operate', undefined, false],
  ])('%s', (_name, scope, capability, pool, allowed) => {
    expect(can(scope, capability, pool)).toBe(allowed);
  });

  test('denials carry the catalogue codes', () => {
    const codeOf = (fn: () => void) => {
      try {
        fn();
      } catch (error) {
        return (error as PoolerError).code;
      }
      return null;
    };
    expect(codeOf(() => authorize(admin, 'pool.operate', B))).toBe('capability_denied');
    expect(codeOf(() => authorize(admin, 'pool.operate', D))).toBe('pool_not_found');
    expect(codeOf(() => authorize(owner, 'pool_api_key.manage', X))).toBe('pool_not_found');
    expect(codeOf(() => authorize(admin, 'operator.manage'))).toBe('capability_denied');
    expect(codeOf(() => authorize(systemScope(), 'operator.manage'))).toBeNull();
  });

  test('readable pools: every pool for owners, the assigned ones for admins', () => {
    expect(readablePoolIds(owner)).toBeNull();
    expect(readablePoolIds(admin)).toEqual(['A', 'D']);
  });
});
