import pino from 'pino';
import { describe, expect, test } from 'vitest';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import { PoolerError } from '../../errors.ts';
import { checkClientKey, keyCheckOf, type KeyAuthenticator } from './key-check.ts';
import type { ClientContext } from './turn-deps.ts';

const key: AuthenticatedKey = { id: 'k1', prefix: 'sk-cxp-abc', poolId: 'p1', poolSlug: 'pool', v1Enabled: true, allowedModels: null };
const restricted: AuthenticatedKey = {
  ...key,
  allowedModels: ['gpt-5.4-mini'],
  policy: { allowedModels: ['gpt-5.4-mini'], enforcedModel: 'gpt-5.4-mini', maximumReasoningEffort: 'low', enforcedReasoningEffort: null, serviceTier: null },
};
const client = (surface: 'backend' | 'v1', authorization: string | null = 'Bearer sk-cxp-abc.secret'): ClientContext => ({
  key,
  surface,
  authorization,
  clientIp: null,
  userAgent: null,
  clientRequestId: 'req',
  forwarded: authorization === null,
});

describe('keyCheckOf', () => {
  test.each([
    ['the key as it is now, with its current policy', 'backend', { key: restricted }, { status: 'active', key: restricted }],
    ['a key moved to another pool is inactive', 'backend', { key: { ...key, poolId: 'p2' } }, { status: 'inactive' }],
    ['/v1 turned off ends a /v1 socket', 'v1', { key: { ...key, v1Enabled: false } }, { status: 'inactive' }],
    ['/v1 turned off leaves a native socket', 'backend', { key: { ...key, v1Enabled: false } }, { status: 'active', key: { ...key, v1Enabled: false } }],
    ['a refusal of the key (PoolerError) is inactive', 'backend', { error: new PoolerError('api_key_paused') }, { status: 'inactive' }],
    ['any other failure (database down) says nothing about the key', 'backend', { error: new Error('connect ECONNREFUSED 127.0.0.1:5432') }, { status: 'unverified' }],
  ] as const)('%s', (_name, surface, result, want) => {
    expect(keyCheckOf(client(surface), result)).toEqual(want);
  });
});

describe('checkClientKey', () => {
  const log = pino({ level: 'silent' });
  const authenticator = (answer: () => Promise<AuthenticatedKey>): KeyAuthenticator & { calls: number } => {
    const a = { calls: 0, authenticate: () => (a.calls++, answer()) };
    return a;
  };

  test('returns the fresh key from the authenticator', async () => {
    const auth = authenticator(async () => restricted);
    expect(await checkClientKey(auth, log, client('backend'))).toEqual({ status: 'active', key: restricted });
    expect(auth.calls).toBe(1);
  });

  test('an authenticator that throws a plain Error leaves the key unverified, not inactive', async () => {
    const auth = authenticator(async () => {
      throw new Error('Connection terminated unexpectedly');
    });
    expect(await checkClientKey(auth, log, client('backend'))).toEqual({ status: 'unverified' });
  });

  test('a forwarded session (no Authorization here) runs with the key its replica sent', async () => {
    const auth = authenticator(async () => {
      throw new Error('not called');
    });
    const forwarded = { ...client('backend', null), key: restricted };
    expect(await checkClientKey(auth, log, forwarded)).toEqual({ status: 'active', key: restricted });
    expect(auth.calls).toBe(0);
  });
});
