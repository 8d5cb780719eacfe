import { describe, expect, test } from 'vitest';
import { PoolerError } from '../errors.ts';
import { parseApiKeyEdit, planStatusChange } from './lifecycle.ts';

describe('planStatusChange (spec §6.2)', () => {
  test.each([
    ['pause an active key', 'active', 'paused', { kind: 'apply', action: 'pause' }],
    ['resume a paused key', 'paused', 'active', { kind: 'apply', action: 'resume' }],
    ['revoke an active key', 'active', 'revoked', { kind: 'apply', action: 'revoke' }],
    ['revoke a paused key', 'paused', 'revoked', { kind: 'apply', action: 'revoke' }],
    ['pause a paused key: silent', 'paused', 'paused', { kind: 'noop' }],
    ['resume an active key: silent', 'active', 'active', { kind: 'noop' }],
    ['revoke a revoked key: silent', 'revoked', 'revoked', { kind: 'noop' }],
  ] as const)('%s', (_name, from, to, want) => {
    expect(planStatusChange(from, to)).toEqual(want);
  });

  test.each([['active'], ['paused']] as const)('a revoked key cannot become %s', (to) => {
    const error = (() => {
      try {
        planStatusChange('revoked', to);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(PoolerError);
    expect(error).toMatchObject({ code: 'api_key_revoked', status: 409 });
  });
});

describe('parseApiKeyEdit', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  test('absent fields stay absent; empty text and null clear', () => {
    expect(parseApiKeyEdit({}, now)).toEqual({});
    expect(parseApiKeyEdit({ label: '  ', notes: null, expiresAt: null }, now)).toEqual({ label: null, notes: null, expiresAt: null });
    expect(parseApiKeyEdit({ label: ' ci ', expiresAt: '2027-01-31', status: 'paused' }, now)).toEqual({ label: 'ci', expiresAt: new Date('2027-01-31T00:00:00Z'), status: 'paused' });
  });

  test.each([
    [{ label: 7 }, 'label'],
    [{ label: 'x'.repeat(161) }, 'label'],
    [{ notes: 'x'.repeat(2001) }, 'notes'],
    [{ expiresAt: 'soon' }, 'expires_at'],
    [{ expiresAt: '2026-05-31' }, 'expires_at'],
    [{ status: 'deleted' }, 'status'],
  ])('%j is refused naming %s', (input, param) => {
    expect(() => parseApiKeyEdit(input, now)).toThrow(expect.objectContaining({ code: 'invalid_request', param }));
  });
});
