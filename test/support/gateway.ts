import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { cliActor } from '../../src/audit/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { buildApp } from '../../src/http/app.ts';
import { DrainState } from '../../src/http/drain.ts';
import { createLogger } from '../../src/http/logger.ts';
import { createPool } from '../../src/pools/index.ts';
import { createServices, type Services } from '../../src/services.ts';
import { importAuthJson } from '../../src/upstreams/index.ts';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.ts';

export const TEST_SECRETS = {
  SECRET_KEY_BASE: 'test-secret-key-base-'.padEnd(80, 'x'),
  CODEX_POOLER_UPSTREAM_SECRET_KEY: randomBytes(32).toString('base64'),
  CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};

export type TestGateway = {
  url: string;
  app: FastifyInstance;
  services: Services;
  handle: DatabaseHandle;
  config: Config;
  drain: DrainState;
  close(): Promise<void>;
};

/** A real gateway (Fastify on a socket, PostgreSQL, the fake upstream) inside the test process. */
export async function startGateway(options: { databaseUrl: string; upstream: FakeUpstream; env?: Record<string, string> }): Promise<TestGateway> {
  const config = parseConfig({
    ...TEST_SECRETS,
    DATABASE_URL: options.databaseUrl,
    POOL_SIZE: '4',
    CODEX_POOLER_UPSTREAM_BASE_URL: options.upstream.url,
    CODEX_POOLER_AUTH_ISSUER: options.upstream.url,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const log = createLogger({ level: config.logLevel });
  const handle = await openDatabase(config.database, { onError: () => {} });
  const services = createServices(config, handle, log);
  await services.listen();
  const drain = new DrainState(null);
  const app = await buildApp({ services, drain, version: 'test', connectionCloseGraceMs: 500 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    services,
    handle,
    config,
    drain,
    async close() {
      await app.close();
      await services.close();
      await handle.close();
    },
  };
}

export const uniqueName = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

/** A pool with `accounts` fake accounts imported and a fresh key. */
export async function seedPool(gateway: TestGateway, upstream: FakeUpstream, accounts: number, label = 'pool') {
  const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName(label) });
  const added = [];
  for (let i = 0; i < accounts; i++) {
    const accountId = `acct-${randomBytes(5).toString('hex')}`;
    const account = await upstream.addAccount({ accountId, email: `${accountId}@example.com` });
    const imported = await importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
    added.push({ ...account, accountId, assignmentId: imported.account.id, identityId: imported.account.identityId });
  }
  const { key, apiKey } = await mintApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), { pool: pool.slug, label: 'test' });
  return { pool, accounts: added, key, apiKey };
}

export type SeededPool = Awaited<ReturnType<typeof seedPool>>;

/**
 * A gateway on its own fake upstream with a one-account pool, and the openai SDK pointed at the
 * gateway's `/v1` with the pool's key (no retries, so every call is one request).
 */
export async function startV1Gateway(databaseUrl: string, label: string): Promise<{ upstream: FakeUpstream; gateway: TestGateway; seeded: SeededPool; client: OpenAI }> {
  const upstream = await startFakeUpstream();
  const gateway = await startGateway({ databaseUrl, upstream }).catch(async (error: unknown) => {
    await upstream.close();
    throw error;
  });
  const seeded = await seedPool(gateway, upstream, 1, label);
  const client = new OpenAI({ apiKey: seeded.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  return { upstream, gateway, seeded, client };
}

/**
 * Routing spreads requests by hashing their ids, so which account a single request hits is not
 * fixed. Sends until `accountId` has received a request (bounded), returning every result.
 */
export async function sendUntilTried<T>(upstream: FakeUpstream, accountId: string, send: () => Promise<T>, max = 40): Promise<T[]> {
  const before = upstream.requests.filter((r) => r.accountId === accountId).length;
  const results: T[] = [];
  for (let i = 0; i < max; i++) {
    results.push(await send());
    if (upstream.requests.filter((r) => r.accountId === accountId).length > before) return results;
  }
  throw new Error(`account ${accountId} was never tried in ${max} requests`);
}
