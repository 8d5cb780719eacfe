import pino from 'pino';
import { expect } from 'vitest';
import { setKeyLimits } from '../../src/accounting/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { createPool } from '../../src/pools/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { importAuthJson } from '../../src/upstreams/index.ts';
import type { AdminHarness } from './admin.ts';
import type { FakeUpstream } from './fake-upstream.ts';

export type ObservedKey = { poolId: string; keyId: string; prefix: string; key: string; accountEmail: string; accountId: string };

/**
 * A key worth observing: the vendored prices imported (so usage has costs), a pool with one account,
 * a key with a requests-per-minute and a tokens-per-day limit, and `questions` sent through the
 * gateway with it, each answered 200 and all of them in the request log.
 */
export async function seedObservedKey(
  harness: AdminHarness,
  upstream: FakeUpstream,
  options: { pool: string; accountId: string; accountEmail: string; label: string; dashboardAccess?: boolean; questions: string[] },
): Promise<ObservedKey> {
  await migrateAndImportPricing(harness.db, pino({ level: 'silent' }));
  const pool = await createPool(harness.db, cliActor(), { name: options.pool });
  const account = await upstream.addAccount({ accountId: options.accountId, email: options.accountEmail });
  await importAuthJson(harness.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
  const deps = { db: harness.db, notifier: harness.services.notifier };
  const minted = await mintApiKey(deps, cliActor(), { pool: pool.slug, label: options.label, dashboardAccess: options.dashboardAccess === true });
  const observed = { poolId: pool.id, keyId: minted.apiKey.id, prefix: minted.apiKey.prefix, key: minted.key, accountEmail: options.accountEmail, accountId: options.accountId };
  await setKeyLimits(deps, cliActor(), observed.prefix, { max_requests_per_minute: 10, max_tokens_per_day: 100_000 });
  // The limits change reaches the gateway's key cache by notification: let it land before sending.
  await new Promise((r) => setTimeout(r, 100));
  for (const text of options.questions) expect(await send(harness, observed.key, text)).toBe(200);
  await settled(harness, observed.keyId, options.questions.length);
  return observed;
}

/** One streamed turn through the gateway's native surface; the body is read to the end. */
async function send(harness: AdminHarness, key: string, text: string): Promise<number> {
  const response = await fetch(`${harness.url}/backend-api/codex/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }], stream: true }),
  });
  await response.text();
  return response.status;
}

/** Waits until the writer recorded `count` finished requests of the key. */
async function settled(harness: AdminHarness, keyId: string, count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await harness.services.requestLog.flush();
    const rows = await harness.db.selectFrom('requests').select('id').where('api_key_id', '=', keyId).where('status', '=', 'succeeded').execute();
    if (rows.length >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('requests were not recorded');
}
