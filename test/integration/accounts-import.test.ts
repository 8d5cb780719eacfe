import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { listApiKeys, mintApiKey, revokeApiKey } from '../../src/api-keys/index.ts';
import { PoolerError } from '../../src/errors.ts';
import { createPool, deletePool, listPools, renamePool } from '../../src/pools/index.ts';
import { disableAccount, enableAccount, importAuthJson, listAccounts, removeAccount } from '../../src/upstreams/index.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { startGateway, uniqueName, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

const newAccount = async () => {
  const accountId = `acct-${randomBytes(5).toString('hex')}`;
  return upstream.addAccount({ accountId, email: `${accountId}@Example.com`, planType: 'pro' });
};

async function rejection(promise: Promise<unknown>): Promise<PoolerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PoolerError) return error;
    throw error;
  }
  throw new Error('expected a PoolerError');
}

describe('auth.json import', () => {
  test('stores encrypted credentials, reads claims and primes catalog and quota', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('import') });
    const account = await newAccount();
    upstream.setQuota(account.accountId, { primaryUsedPercent: 42, secondaryUsedPercent: 7 });
    const result = await importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
    expect(result.created).toBe(true);
    expect(result.primed.models).toBe(3);
    expect(result.account).toMatchObject({ email: `${account.accountId}@example.com`, chatgptAccountId: account.accountId, plan: 'pro', state: 'active' });
    expect(result.account.quota.primary?.used_percent).not.toBeNull();
    const secrets = await gateway.services.db.selectFrom('encrypted_secrets').select(['ciphertext', 'secret_kind', 'key_version']).where('upstream_identity_id', '=', result.account.identityId).where('status', '=', 'active').execute();
    expect(secrets.map((s) => s.secret_kind).sort()).toEqual(['access_token', 'id_token', 'refresh_token']);
    for (const secret of secrets) expect(secret.ciphertext.toString('utf8')).not.toContain(account.refreshToken);
  });

  test('importing the same ChatGPT account again updates it instead of duplicating', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('reimport') });
    const account = await newAccount();
    const first = await importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
    const again = await importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
    expect(again.created).toBe(false);
    expect(again.account.id).toBe(first.account.id);
    expect(await listAccounts(gateway.services.db, { pool: pool.slug })).toHaveLength(1);
  });

  test.each([
    ['not JSON', () => '{nope', 'auth_json'],
    ['an API-key auth.json', () => JSON.stringify({ OPENAI_API_KEY: 'sk-live' }), 'OPENAI_API_KEY'],
    ['no tokens', () => JSON.stringify({ auth_mode: 'chatgpt' }), 'tokens'],
  ])('%s is refused naming the field, and nothing is stored', async (_name, text, field) => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('bad') });
    const error = await rejection(importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: text() }));
    expect(error.code).toBe('invalid_request');
    expect(error.param).toBe(field);
    expect(error.message).toMatch(/^auth\.json is invalid: /);
    expect(await listAccounts(gateway.services.db, { pool: pool.slug })).toHaveLength(0);
  });

  test('a missing refresh token is refused with its field', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('norefresh') });
    const account = await newAccount();
    const broken = { ...account.authJson, tokens: { ...account.authJson.tokens, refresh_token: '' } };
    const error = await rejection(importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(broken) }));
    expect(error.param).toContain('refresh_token');
  });

  test('disable, enable and remove change the account state', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('states') });
    const account = await newAccount();
    const { account: view } = await importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
    const deps = { db: gateway.services.db, notifier: gateway.services.notifier };
    expect((await disableAccount(deps, cliActor(), view.id)).state).toBe('disabled');
    expect((await enableAccount(deps, cliActor(), view.id)).state).toBe('active');
    await removeAccount(deps, cliActor(), view.id);
    expect(await listAccounts(gateway.services.db, { pool: pool.slug })).toHaveLength(0);
    const audit = await gateway.services.db.selectFrom('audit_events').select('action').where('target_id', '=', view.id).execute();
    expect(audit.map((a) => a.action).sort()).toEqual(['upstream_account.disable', 'upstream_account.enable', 'upstream_account.import', 'upstream_account.remove']);
  });
});

describe('pools and keys', () => {
  test('a pool with keys or accounts is only deleted when forced', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('Team Pool') });
    expect(pool.slug).toMatch(/^team-pool-/);
    await renamePool(gateway.services.db, cliActor(), pool.slug, 'Renamed');
    const deps = { db: gateway.services.db, notifier: gateway.services.notifier };
    await mintApiKey(deps, cliActor(), { pool: pool.slug, label: 'x' });
    const error = await rejection(deletePool(gateway.services.db, cliActor(), pool.slug));
    expect(error.code).toBe('conflict');
    expect((await listPools(gateway.services.db)).find((p) => p.id === pool.id)?.name).toBe('Renamed');
    await deletePool(gateway.services.db, cliActor(), pool.slug, { force: true });
    expect((await listPools(gateway.services.db)).find((p) => p.id === pool.id)).toBeUndefined();
  });

  test('keys are stored as digests, listed without secrets and revocable by prefix', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('keys') });
    const deps = { db: gateway.services.db, notifier: gateway.services.notifier };
    const minted = await mintApiKey(deps, cliActor(), { pool: pool.slug, label: 'ci', expiresAt: '2099-01-01' });
    expect(minted.key).toMatch(/^sk-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    const row = await gateway.services.db.selectFrom('api_keys').selectAll().where('id', '=', minted.apiKey.id).executeTakeFirstOrThrow();
    expect(row.key_hash.length).toBe(32);
    expect(JSON.stringify(row)).not.toContain(minted.key.slice(20));
    await revokeApiKey(deps, cliActor(), minted.apiKey.prefix);
    const listed = await listApiKeys(gateway.services.db, { pool: pool.slug });
    expect(listed).toMatchObject([{ prefix: minted.apiKey.prefix, label: 'ci', state: 'revoked' }]);
    const bad = await rejection(mintApiKey(deps, cliActor(), { pool: pool.slug, expiresAt: 'tomorrow' }));
    expect(bad.param).toBe('expires_at');
  });
});
